package cluster

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// hostState is what the node changes on this machine outside its folder,
// as found before it starts, so that Down puts it back.
type hostState struct {
	ipForward string
	nftTables []string
	netns     []string
	// absent are the folders the node's daemons make at fixed paths that
	// were not there before.
	absent      []string
	cgroupRoots []string // the cgroup controllers' mount points
}

func snapshotHost() (*hostState, error) {
	h := &hostState{}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return nil, err
	}
	h.ipForward = strings.TrimSpace(string(b))
	if h.nftTables, err = nftTables(); err != nil {
		return nil, err
	}
	h.netns, _ = listDir("/run/netns")
	// CNI's cache, containerd's shim sockets, kubelet's device-plugin
	// socket and container log links, the pods' network namespaces.
	for _, p := range []string{"/var/lib/cni", "/run/containerd", "/var/lib/kubelet", "/var/log/containers", "/run/netns"} {
		if !exists(p) {
			h.absent = append(h.absent, p)
		}
	}
	h.cgroupRoots = cgroupMounts()
	return h, nil
}

// restore undoes what the node did to the host, best effort: every step
// is tried whatever failed before, and what failed is returned.
func (h *hostState) restore(bridge string) []error {
	var errs []error
	try := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if after, err := nftTables(); err == nil {
		for _, t := range after {
			if !slices.Contains(h.nftTables, t) {
				try(run("nft", append([]string{"delete", "table"}, strings.Fields(t)...)...))
			}
		}
	} else {
		try(err)
	}
	if after, err := listDir("/run/netns"); err == nil {
		for _, ns := range after {
			if !slices.Contains(h.netns, ns) {
				try(run("ip", "netns", "delete", ns))
			}
		}
	}
	if linkExists(bridge) {
		try(run("ip", "link", "delete", bridge))
	}
	try(os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(h.ipForward), 0o644))
	for _, p := range h.absent {
		try(os.RemoveAll(p))
	}
	for _, root := range h.cgroupRoots {
		try(removeCgroups(filepath.Join(root, "kubepods")))
	}
	return errs
}

func nftTables() ([]string, error) {
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return nil, fmt.Errorf("nft list tables: %w", err)
	}
	var tables []string
	for l := range strings.Lines(string(out)) {
		if t, ok := strings.CutPrefix(strings.TrimSpace(l), "table "); ok {
			tables = append(tables, t)
		}
	}
	return tables, nil
}

// cgroupMounts are the mount points of the cgroup hierarchies (v1 and v2).
func cgroupMounts() []string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil
	}
	defer f.Close()
	var roots []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 2 && (fields[2] == "cgroup" || fields[2] == "cgroup2") {
			roots = append(roots, fields[1])
		}
	}
	return roots
}

// removeCgroups removes a cgroup tree, leaves first; a cgroup still holding
// a process cannot go and is reported.
func removeCgroups(dir string) error {
	if !exists(dir) {
		return nil
	}
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	var last error
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil {
			last = fmt.Errorf("removing cgroup %s: %w", d, err)
		}
	}
	return last
}

// unmountUnder unmounts everything mounted under dir, deepest first
// (kubelet's volumes, containerd's root filesystems).
func unmountUnder(dir string) []error {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return []error{err}
	}
	var points []string
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) > 1 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			points = append(points, f[1])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errs
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func linkExists(name string) bool { return exec.Command("ip", "link", "show", name).Run() == nil }

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func listDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

//go:build e2e

// Package e2e installs the chart on a real single-node cluster (test/e2e/cluster)
// and checks what only a real node shows: pods that run, CronJobs that fire,
// Services that answer, PodSecurity that admits. Run by `make e2e`
// (hack/e2e.sh), which builds the binaries and runs this as root.
package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cjm-dev/journey-operator/internal/store/pgtest"
	"github.com/cjm-dev/journey-operator/test/e2e/cluster"
	"github.com/cjm-dev/journey-operator/test/e2e/image"
)

var (
	controlPlane = flag.String("control-plane", "", "the folder with etcd, kube-apiserver and kubectl (hack/setup-envtest.sh)")
	nodeBin      = flag.String("node", "", "the folder with kubelet, kube-controller-manager, kube-scheduler and kube-proxy (hack/node-binaries.sh)")
)

// The image every journey-operator workload runs, as the chart names it.
const (
	operatorRepo = "ghcr.io/cjm-dev/journey-operator"
	operatorTag  = "e2e"
	// clientImage runs test/e2e/client: requests from inside the cluster.
	clientImage = "e2e.local/client:e2e"
)

var (
	node *cluster.Cluster
	pg   *pgtest.Server
	// storeDSN is the store's database as the pods reach it; hostDSN as the
	// test does.
	storeDSN, hostDSN string
	kubectlBin        string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "e2e %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	if os.Geteuid() != 0 {
		logf("the node needs root (containerd, kubelet, the bridge): run make e2e as root")
		return 1
	}
	if *controlPlane == "" || *nodeBin == "" {
		logf("-control-plane and -node name the binaries' folders: run make e2e, which builds them")
		return 1
	}
	kubectlBin = filepath.Join(*controlPlane, "kubectl")
	dir, err := os.MkdirTemp("/tmp", "je2e-")
	if err != nil {
		logf("%v", err)
		return 1
	}

	var once sync.Once
	down := func() {
		once.Do(func() {
			if pg != nil {
				pg.Stop()
			}
			if node != nil {
				for _, err := range node.Down() {
					logf("cleaning up: %v", err)
				}
			}
			os.RemoveAll(dir)
			logf("the node is down and the host as it was")
		})
	}
	defer down()
	// Ctrl-C or a kill: the node still comes down.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		logf("%s: stopping the node", s)
		down()
		os.Exit(130)
	}()

	// go test's -timeout panics, and a panic runs no deferred teardown:
	// stop the node a minute before it.
	if timeout, ok := flag.Lookup("test.timeout").Value.(flag.Getter).Get().(time.Duration); ok && timeout > 2*time.Minute {
		time.AfterFunc(timeout-time.Minute, func() {
			logf("out of time (-timeout %s): stopping the node", timeout)
			down()
			os.Exit(1)
		})
	}

	start := time.Now()
	images, err := buildImages(dir, logf)
	if err != nil {
		logf("building the images: %v", err)
		return 1
	}
	ctx := context.Background()
	node, err = cluster.Up(ctx, cluster.Options{Dir: filepath.Join(dir, "n"), ControlPlane: *controlPlane, Node: *nodeBin, Images: images, Log: logf})
	if err != nil {
		logf("bringing the node up: %v", err)
		return 1
	}
	if pg, err = pgtest.NewServerOn(ctx, cluster.HostIP, cluster.PodCIDR); err != nil {
		logf("PostgreSQL for the store: %v", err)
		return 1
	}
	if hostDSN, err = pg.CreateDatabase(ctx); err != nil {
		logf("%v", err)
		return 1
	}
	u, _ := url.Parse(hostDSN)
	storeDSN = pg.DSNAt(cluster.HostIP, strings.TrimPrefix(u.Path, "/"))
	logf("ready in %s: node, images, PostgreSQL at %s for the pods", time.Since(start).Round(time.Second), cluster.HostIP)
	code = m.Run()
	if code != 0 {
		kept := filepath.Join(os.TempDir(), "journey-e2e-logs")
		os.RemoveAll(kept)
		if err := exec.Command("cp", "-r", node.Logs(), kept).Run(); err == nil {
			logf("the daemons' logs are kept in %s", kept)
		}
	}
	return code
}

// buildImages builds the operator's binary and the pause binary, static,
// and writes each into an image tarball.
func buildImages(dir string, logf func(string, ...any)) ([]string, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	specs := []image.Spec{
		{Ref: operatorRepo + ":" + operatorTag, Binary: filepath.Join(dir, "journey"), Path: "/journey", User: "65532:65532"},
		{Ref: cluster.PauseImage, Binary: filepath.Join(dir, "pause"), Path: "/pause"},
		{Ref: clientImage, Binary: filepath.Join(dir, "client"), Path: "/client", User: "65532:65532"},
	}
	for pkg, out := range map[string]string{".": specs[0].Binary, "./test/e2e/pause": specs[1].Binary, "./test/e2e/client": specs[2].Binary} {
		logf("building %s (static)", pkg)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v: %s", pkg, err, b)
		}
	}
	var tars []string
	for _, s := range specs {
		out := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(s.Ref)+".tar")
		if err := image.Write(s, out); err != nil {
			return nil, err
		}
		tars = append(tars, out)
	}
	return tars, nil
}

// kubectl runs kubectl as the cluster's admin.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectlErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kubectlErr(args ...string) (string, error) {
	cmd := exec.Command(kubectlBin, append([]string{"--kubeconfig", node.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), fmt.Errorf("kubectl %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
		}
		return string(out), err
	}
	return string(out), nil
}

// waitServiceAccount waits for the controller manager to give a new
// namespace its default service account, which pods need.
func waitServiceAccount(t *testing.T, ns string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := kubectlErr("-n", ns, "get", "serviceaccount", "default"); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("no default service account in %s within 30s: %v", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

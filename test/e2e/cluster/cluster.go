// Package cluster brings up a single-node Kubernetes cluster on this
// machine from binaries built from source: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd (Debian's) with
// runc and the CNI bridge, kubelet and kube-proxy. Everything it writes is
// under one folder, and Down puts back what it changed on the host (nft
// tables, the bridge, network namespaces, cgroups, ip_forward).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The node's network: a bridge the pods and the API server share.
const (
	Bridge      = "je2e0"
	HostIP      = "10.244.0.1"
	PodCIDR     = "10.244.0.0/24"
	ServiceCIDR = "10.96.0.0/24"
	NodeName    = "e2e-node"
	apiPort     = 6443
	etcdPort    = 23790
	// PauseImage is the sandbox image, built by the caller like any other.
	PauseImage = "e2e.local/pause:e2e"
)

// Options say where the binaries are and what to import.
type Options struct {
	// Dir holds everything the cluster writes; keep it short (containerd's
	// sockets live there).
	Dir string
	// ControlPlane holds etcd, kube-apiserver and kubectl; Node holds
	// kubelet, kube-controller-manager, kube-scheduler and kube-proxy.
	ControlPlane, Node string
	// Images are docker-archive tarballs imported into containerd, the
	// pause image among them.
	Images []string
	// Log prints each step.
	Log func(format string, args ...any)
}

// Cluster is a running single-node cluster.
type Cluster struct {
	o       Options
	pki     *pki
	host    *hostState
	daemons []*daemon // in start order
	// Kubeconfig is the admin's (system:masters).
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
}

// Up starts the cluster and waits for the node to be Ready. On failure it
// stops what it started.
func Up(ctx context.Context, o Options) (c *Cluster, err error) {
	c = &Cluster{o: o}
	defer func() {
		if err != nil {
			if errs := c.Down(); len(errs) > 0 {
				err = fmt.Errorf("%w (and stopping: %v)", err, errors.Join(errs...))
			}
		}
	}()
	for _, dir := range []string{"logs", "etcd", "containerd", "cni/net.d", "cni/ipam", "kubelet", "pod-logs"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, dir), 0o755); err != nil {
			return c, err
		}
	}
	if c.host, err = snapshotHost(); err != nil {
		return c, fmt.Errorf("reading the host's state: %w", err)
	}
	step := time.Now()
	c.o.Log("network: bridge %s at %s/24, ip_forward on", Bridge, HostIP)
	if err := c.network(); err != nil {
		return c, err
	}
	c.o.Log("certificates and kubeconfigs")
	if err := c.credentials(); err != nil {
		return c, err
	}
	c.o.Log("etcd and kube-apiserver")
	if err := c.controlPlane(ctx); err != nil {
		return c, err
	}
	c.o.Log("kube-apiserver ready in %s; kube-controller-manager, kube-scheduler", time.Since(step).Round(100*time.Millisecond))
	if err := c.controllers(); err != nil {
		return c, err
	}
	c.o.Log("containerd, and %d images imported", len(o.Images))
	if err := c.containerd(ctx); err != nil {
		return c, err
	}
	c.o.Log("kubelet and kube-proxy")
	if err := c.node(ctx); err != nil {
		return c, err
	}
	c.o.Log("node %s Ready, %s after the start", NodeName, time.Since(step).Round(100*time.Millisecond))
	return c, nil
}

func (c *Cluster) path(p ...string) string { return filepath.Join(append([]string{c.o.Dir}, p...)...) }

func (c *Cluster) start(name, bin string, args ...string) error {
	d, err := startDaemon(c.path("logs"), name, bin, args...)
	if err != nil {
		return err
	}
	c.daemons = append(c.daemons, d)
	return nil
}

func (c *Cluster) network() error {
	if linkExists(Bridge) {
		return fmt.Errorf("the bridge %s exists: another e2e run is up, or one was killed before it cleaned up (ip link delete %s)", Bridge, Bridge)
	}
	if err := run("ip", "link", "add", Bridge, "type", "bridge"); err != nil {
		return err
	}
	if err := run("ip", "addr", "add", HostIP+"/24", "dev", Bridge); err != nil {
		return err
	}
	if err := run("ip", "link", "set", Bridge, "up"); err != nil {
		return err
	}
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
}

// credentials writes the CA, each component's certificate and kubeconfig.
func (c *Cluster) credentials() error {
	p, err := newPKI(c.path("pki"))
	if err != nil {
		return err
	}
	c.pki = p
	for _, cert := range []struct {
		name, cn string
		groups   []string
		hosts    []string
	}{
		{"apiserver", "kube-apiserver", nil, []string{HostIP, "10.96.0.1", "127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil},
		{"admin", "e2e-admin", []string{"system:masters"}, nil},
		{"controller-manager", "system:kube-controller-manager", nil, nil},
		{"scheduler", "system:kube-scheduler", nil, nil},
		{"kubelet", "system:node:" + NodeName, []string{"system:nodes"}, []string{HostIP, NodeName}},
		{"kube-proxy", "system:kube-proxy", nil, nil},
	} {
		if err := p.issue(cert.name, cert.cn, cert.groups, cert.hosts...); err != nil {
			return err
		}
	}
	for _, user := range []string{"admin", "controller-manager", "scheduler", "kubelet", "kube-proxy"} {
		if err := c.writeKubeconfig(user); err != nil {
			return err
		}
	}
	c.Kubeconfig = c.path("admin.kubeconfig")
	return nil
}

func (c *Cluster) writeKubeconfig(user string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://%s:%d", HostIP, apiPort), CertificateAuthority: c.pki.path("ca.crt")}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificate: c.pki.path(user + ".crt"), ClientKey: c.pki.path(user + ".key")}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: user}
	cfg.CurrentContext = "e2e"
	return clientcmd.WriteToFile(*cfg, c.path(user+".kubeconfig"))
}

func (c *Cluster) controlPlane(ctx context.Context) error {
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	if err := c.start("etcd", filepath.Join(c.o.ControlPlane, "etcd"), "--data-dir", c.path("etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:23800", "--initial-advertise-peer-urls", "http://127.0.0.1:23800",
		"--initial-cluster", "default=http://127.0.0.1:23800", "--unsafe-no-fsync"); err != nil {
		return err
	}
	p := c.pki.path
	if err := c.start("kube-apiserver", filepath.Join(c.o.ControlPlane, "kube-apiserver"),
		"--etcd-servers", etcdURL,
		"--bind-address", HostIP, "--advertise-address", HostIP, "--secure-port", strconv.Itoa(apiPort),
		"--service-cluster-ip-range", ServiceCIDR,
		"--tls-cert-file", p("apiserver.crt"), "--tls-private-key-file", p("apiserver.key"),
		"--client-ca-file", p("ca.crt"),
		"--kubelet-client-certificate", p("apiserver-kubelet-client.crt"), "--kubelet-client-key", p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority", p("ca.crt"), "--kubelet-preferred-address-types", "InternalIP",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p("sa.pub"), "--service-account-signing-key-file", p("sa.key"),
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=false"); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.path("admin.kubeconfig"))
	if err != nil {
		return err
	}
	c.Config = cfg
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	return c.waitFor(ctx, "kube-apiserver /readyz", 90*time.Second, func(ctx context.Context) (bool, error) {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
}

func (c *Cluster) controllers() error {
	p := c.pki.path
	if err := c.start("kube-controller-manager", filepath.Join(c.o.Node, "kube-controller-manager"),
		"--kubeconfig", c.path("controller-manager.kubeconfig"),
		"--authentication-kubeconfig", c.path("controller-manager.kubeconfig"),
		"--authorization-kubeconfig", c.path("controller-manager.kubeconfig"),
		"--bind-address", "127.0.0.1", "--leader-elect=false",
		"--service-account-private-key-file", p("sa.key"), "--root-ca-file", p("ca.crt"),
		"--use-service-account-credentials", "--service-cluster-ip-range", ServiceCIDR); err != nil {
		return err
	}
	return c.start("kube-scheduler", filepath.Join(c.o.Node, "kube-scheduler"),
		"--kubeconfig", c.path("scheduler.kubeconfig"),
		"--authentication-kubeconfig", c.path("scheduler.kubeconfig"),
		"--authorization-kubeconfig", c.path("scheduler.kubeconfig"),
		"--bind-address", "127.0.0.1", "--leader-elect=false")
}

func (c *Cluster) containerdSocket() string { return c.path("containerd", "containerd.sock") }

func (c *Cluster) containerd(ctx context.Context) error {
	conf := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  # root in this VM lacks CAP_SYS_RESOURCE: runc cannot lower a sandbox's
  # oom_score_adj without this.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[5]q
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
`, c.path("containerd", "root"), c.path("containerd", "state"), c.containerdSocket(), PauseImage, c.path("cni", "net.d"))
	if err := os.WriteFile(c.path("containerd", "config.toml"), []byte(conf), 0o644); err != nil {
		return err
	}
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "e2e",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q, "rangeStart": "10.244.0.10", "gateway": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}`, Bridge, c.path("cni", "ipam"), PodCIDR, HostIP)
	if err := os.WriteFile(c.path("cni", "net.d", "10-e2e.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	if err := c.start("containerd", "containerd", "--config", c.path("containerd", "config.toml")); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "containerd", 30*time.Second, func(ctx context.Context) (bool, error) {
		return c.ctr(ctx, "version") == nil, nil
	}); err != nil {
		return err
	}
	for _, img := range c.o.Images {
		if err := c.ctr(ctx, "-n", "k8s.io", "images", "import", img); err != nil {
			return fmt.Errorf("importing %s: %w", img, err)
		}
	}
	return nil
}

// ctr runs containerd's client against this node's containerd.
func (c *Cluster) ctr(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.containerdSocket()}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c *Cluster) node(ctx context.Context) error {
	p := c.pki.path
	kubelet := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
tlsCertFile: %q
tlsPrivateKeyFile: %q
containerRuntimeEndpoint: unix://%s
# cgroup v1 and no systemd on this machine.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: %q
clusterDomain: cluster.local
# A nearly full disk must not evict the test's pods.
evictionHard: {memory.available: 100Mi, nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
`, p("ca.crt"), p("kubelet.crt"), p("kubelet.key"), c.containerdSocket(), c.path("pod-logs"))
	if err := os.WriteFile(c.path("kubelet.yaml"), []byte(kubelet), 0o644); err != nil {
		return err
	}
	if err := c.start("kubelet", filepath.Join(c.o.Node, "kubelet"), "--config", c.path("kubelet.yaml"),
		"--kubeconfig", c.path("kubelet.kubeconfig"), "--hostname-override", NodeName, "--node-ip", HostIP,
		"--root-dir", c.path("kubelet")); err != nil {
		return err
	}
	proxy := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clusterCIDR: %q
hostnameOverride: %q
clientConnection: {kubeconfig: %q}
# Pods share one bridge: without this a pod reaching a Service backed by a
# pod beside it would get the answer from the pod's own address.
nftables: {masqueradeAll: true}
`, PodCIDR, NodeName, c.path("kube-proxy.kubeconfig"))
	if err := os.WriteFile(c.path("kube-proxy.yaml"), []byte(proxy), 0o644); err != nil {
		return err
	}
	if err := c.start("kube-proxy", filepath.Join(c.o.Node, "kube-proxy"), "--config", c.path("kube-proxy.yaml")); err != nil {
		return err
	}
	return c.waitFor(ctx, "node "+NodeName+" Ready", 120*time.Second, func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// waitFor polls until ok, a daemon exits or the timeout passes.
func (c *Cluster) waitFor(ctx context.Context, what string, timeout time.Duration, ok func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		done, err := ok(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		for _, d := range c.daemons {
			if err := d.exited(); err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not within %s; the logs are in %s", what, timeout, c.path("logs"))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Logs is where each daemon's log is.
func (c *Cluster) Logs() string { return c.path("logs") }

// Down stops the pods, then every daemon in reverse order, unmounts what
// they mounted and puts the host back as it was. It returns what it could
// not undo.
func (c *Cluster) Down() []error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// kubelet goes first, so that it does not start again the containers
	// killed next; containerd goes once they are.
	var containerd *daemon
	for i := len(c.daemons) - 1; i >= 0; i-- {
		if d := c.daemons[i]; d.name == "containerd" {
			containerd = d
		} else if err := d.stop(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if containerd != nil {
		if containerd.exited() == nil {
			c.o.Log("stopping the pods' containers")
			c.killTasks(ctx)
		}
		if err := containerd.stop(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// A shim outlives containerd, and its container with it.
	killProcesses("containerd-shim", c.containerdSocket())
	time.Sleep(500 * time.Millisecond)
	errs = append(errs, unmountUnder(c.o.Dir)...)
	if c.host != nil {
		c.o.Log("restoring the host: nft tables, network namespaces, the bridge, cgroups, ip_forward")
		errs = append(errs, c.host.restore(Bridge)...)
	}
	c.host, c.daemons = nil, nil
	if err := os.RemoveAll(c.o.Dir); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// killTasks kills every container containerd runs for Kubernetes.
func (c *Cluster) killTasks(ctx context.Context) {
	out, err := exec.CommandContext(ctx, "ctr", "--address", c.containerdSocket(), "-n", "k8s.io", "tasks", "ls", "-q").Output()
	if err != nil {
		return
	}
	ids := strings.Fields(string(out))
	for _, id := range ids {
		_ = c.ctr(ctx, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id)
	}
	for _, id := range ids {
		for range 20 {
			if c.ctr(ctx, "-n", "k8s.io", "tasks", "delete", "-f", id) == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// HTTPClient is a client that trusts the cluster's CA, for the tests'
// requests to Services through the API server's proxy.
func (c *Cluster) HTTPClient() (*http.Client, error) { return rest.HTTPClientFor(c.Config) }

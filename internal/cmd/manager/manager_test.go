package manager

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad --evaluator-memory stops the manager before it starts, naming the
// flag and what it takes.
func TestEvaluatorMemoryFlag(t *testing.T) {
	for _, v := range []string{"lots", "0", "-1Gi"} {
		err := Run(context.Background(), []string{"--evaluator-memory=" + v})
		if err == nil || !strings.Contains(err.Error(), "evaluator-memory") || !strings.Contains(err.Error(), "2Gi") {
			t.Errorf("--evaluator-memory=%s: %v; want an error naming the flag and an example", v, err)
		}
	}
}

// Self-managed webhook certificates need to know the Service, the
// configurations and the namespace: a missing one stops the manager before
// it starts, naming the flag.
func TestWebhookCertFlags(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--kubeconfig=" + kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0", "--webhook-cert-secret=certs"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--webhook-namespace=ops", "--mutating-webhook-configuration=m", "--validating-webhook-configuration=v"}, "--webhook-service"},
		{[]string{"--webhook-namespace=ops", "--webhook-service=s", "--mutating-webhook-configuration=m"}, "--validating-webhook-configuration"},
		{[]string{"--webhook-service=s", "--mutating-webhook-configuration=m", "--validating-webhook-configuration=v"}, "--webhook-namespace"},
	} {
		if _, err := os.Stat(saNamespaceFile); err == nil && tc.want == "--webhook-namespace" {
			continue // in a pod, the namespace is the pod's
		}
		err := Run(context.Background(), append(append([]string{}, base...), tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want an error naming %s", tc.args, err, tc.want)
		}
	}
}

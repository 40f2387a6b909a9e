package manager

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad --evaluator-memory or --evaluator-scratch stops the manager before
// it starts, naming the flag and what it takes.
func TestEvaluatorQuantityFlags(t *testing.T) {
	for _, flag := range []string{"evaluator-memory", "evaluator-scratch"} {
		for _, v := range []string{"lots", "0", "-1Gi"} {
			err := Run(context.Background(), []string{"--" + flag + "=" + v})
			if err == nil || !strings.Contains(err.Error(), flag) || !strings.Contains(err.Error(), "2Gi") {
				t.Errorf("--%s=%s: %v; want an error naming the flag and an example", flag, v, err)
			}
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

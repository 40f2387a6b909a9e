package workload_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// The evaluator Deployment's container, run as a process with its ConfigMap
// where it would be mounted, becomes ready and serves its metrics and page
// on the port its probes and Service use.
func TestEvaluatorPodTemplateServes(t *testing.T) {
	root := t.TempDir()
	jm := &v1alpha1.JourneyMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "streaming"},
		Spec: v1alpha1.JourneyMapSpec{
			EvaluationInterval: &metav1.Duration{Duration: time.Minute},
			Stages:             []v1alpha1.Stage{{Name: "Subscribed", EnterWhen: `event.type == "invoice.paid"`}},
			Dashboard:          &v1alpha1.Dashboard{Enabled: true},
		},
	}
	opts := render.Options{Image: "journey:test", StoreSecret: v1alpha1.SecretKeyRef{Name: "journey-store", Key: "dsn"}}
	cm, hash, err := render.JourneyConfigMap(jm, nil)
	if err != nil {
		t.Fatal(err)
	}
	dep := render.EvaluatorDeployment(jm, hash, opts)
	c := dep.Spec.Template.Spec.Containers[0]
	write(t, filepath.Join(root, "etc", runconfig.FileName), cm.Data[runconfig.FileName])

	// The pod listens on its container port; here, on a free loopback port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var args []string
	for i := 0; i < len(c.Args); i++ {
		switch {
		case c.Args[i] == "--config":
			args = append(args, "--config", filepath.Join(root, "etc", runconfig.FileName))
			i++
		case c.Args[i] == "--listen":
			if c.Args[i+1] != fmt.Sprintf(":%d", c.Ports[0].ContainerPort) {
				t.Errorf("the evaluator listens on %s, its container port is %d", c.Args[i+1], c.Ports[0].ContainerPort)
			}
			args = append(args, "--listen", addr)
			i++
		default:
			args = append(args, c.Args[i])
		}
	}
	args = append(args, "--no-status") // no API server here; status is tested on envtest
	cmd := journeyCommand(args...)
	cmd.Env = append(cmd.Env, c.Env[0].Name+"=sqlite://"+filepath.Join(root, "journey.db"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	probe := c.ReadinessProbe.HTTPGet.Path
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became ready: %v\n%s", probe, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for path, want := range map[string]string{"/metrics": `journey_evaluations_total{journey="streaming",namespace="media"} 1`, "/": "Subscribed", c.LivenessProbe.HTTPGet.Path: ""} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, want 200 containing %q", path, resp.StatusCode, want)
		}
	}
}

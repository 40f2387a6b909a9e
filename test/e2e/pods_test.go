//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// restricted is what the restricted Pod Security level asks of a pod.
func restricted() (*corev1.PodSecurityContext, *corev1.SecurityContext) {
	return &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		&corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

// inPod runs test/e2e/client in a pod of namespace ns and returns what it
// printed; it fails the test if the client failed.
func inPod(t *testing.T, ns, name string, env map[string]string, args ...string) string {
	t.Helper()
	out, err := inPodErr(ns, name, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inPodErr is inPod, the client's failure an error.
func inPodErr(ns, name string, env map[string]string, args ...string) (string, error) {
	ctx := context.Background()
	podSC, sc := restricted()
	var vars []corev1.EnvVar
	for k, v := range env {
		vars = append(vars, corev1.EnvVar{Name: k, Value: v})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: podSC,
			Containers: []corev1.Container{{Name: "client", Image: clientImage, ImagePullPolicy: corev1.PullNever,
				Args: args, Env: vars, SecurityContext: sc}},
		},
	}
	pods := node.Client.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating pod %s/%s: %w", ns, name, err)
	}
	defer func() {
		_ = pods.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	}()
	var phase corev1.PodPhase
	deadline := time.Now().Add(90 * time.Second)
	for phase != corev1.PodSucceeded && phase != corev1.PodFailed {
		if time.Now().After(deadline) {
			return "", fmt.Errorf("pod %s/%s still %s after 90s", ns, name, phase)
		}
		time.Sleep(300 * time.Millisecond)
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		phase = p.Status.Phase
	}
	logs, err := pods.GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of pod %s/%s: %w", ns, name, err)
	}
	if phase == corev1.PodFailed {
		return string(logs), fmt.Errorf("the client in pod %s/%s failed: %s", ns, name, strings.TrimSpace(string(logs)))
	}
	return string(logs), nil
}

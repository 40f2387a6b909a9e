// Package testutil holds what several test suites share: the samples in
// config/samples, the check that a pod meets the restricted Pod Security
// Standard, and rendered manifests decoded into objects.
package testutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// Samples reads every object config/samples/kustomization.yaml lists, keyed
// by Kind/name. root is the repository's root.
func Samples(root string) (map[string]*unstructured.Unstructured, error) {
	dir := filepath.Join(root, "config", "samples")
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		return nil, fmt.Errorf("config/samples/kustomization.yaml: %w", err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, file := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return nil, err
		}
		for _, doc := range bytes.Split(data, []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			out[u.GetKind()+"/"+u.GetName()] = u
		}
	}
	return out, nil
}

// RestrictedViolations lists how a pod spec breaks the restricted Pod
// Security Standard (latest version), as the admission plugin judges it.
func RestrictedViolations(meta metav1.ObjectMeta, spec corev1.PodSpec) ([]string, error) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range eval.EvaluatePod(psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}, &meta, &spec) {
		if !r.Allowed {
			out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return out, nil
}

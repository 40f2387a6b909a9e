// Package runconfig is the contract between the control plane and the data
// plane: the resolved configuration the controller writes into a workload's
// ConfigMap and the pod reads from its mounted file, so pods need no API
// access to know what to do. It also names where Secrets are mounted.
package runconfig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

const (
	// Version of the file format; bumped on incompatible changes.
	Version = 1
	// FileName is the ConfigMap key and the file name in the pod.
	FileName = "config.json"
	// Dir is where the ConfigMap is mounted.
	Dir = "/etc/journey"
	// SecretsDir is where referenced Secrets are mounted, one folder each.
	SecretsDir = "/var/run/secrets/journey"
	// StoreDSNEnv carries the store's DSN into the pod from its Secret.
	StoreDSNEnv = "JOURNEY_STORE_DSN"
)

// Path is the configuration file's path in the pod.
func Path() string { return path.Join(Dir, FileName) }

// SecretPath is the file in the pod that holds the value of ref.
func SecretPath(ref v1alpha1.SecretKeyRef) string {
	return path.Join(SecretsDir, ref.Name, ref.Key)
}

// Rule is the part of a ValidationRule that applies to a source.
type Rule struct {
	Name       string           `json:"name"`
	Generation int64            `json:"generation"`
	Edited     *Edit            `json:"edited,omitempty"`
	Checks     []v1alpha1.Check `json:"checks"`
}

// Edit is who last changed an object, as the API server stamped it at
// admission (the journey.cjm.dev/last-modified-* annotations): runs record
// it, so that evidence of a run names who configured it.
type Edit struct {
	By  string `json:"by,omitempty"`
	Via string `json:"via,omitempty"`
	At  string `json:"at,omitempty"`
}

// EditOf reads an object's editor annotations; nil when it has none.
func EditOf(annotations map[string]string) *Edit {
	e := Edit{By: annotations[v1alpha1.LastModifiedByAnnotation], Via: annotations[v1alpha1.LastModifiedViaAnnotation],
		At: annotations[v1alpha1.LastModifiedAtAnnotation]}
	if e == (Edit{}) {
		return nil
	}
	return &e
}

// Source is what an ingest run or a webhook receiver needs: the source and
// every check of every ValidationRule that selects it.
type Source struct {
	Version    int                           `json:"version"`
	Namespace  string                        `json:"namespace"`
	Name       string                        `json:"name"`
	UID        string                        `json:"uid"`
	Generation int64                         `json:"generation"`
	Edited     *Edit                         `json:"edited,omitempty"`
	Spec       v1alpha1.TouchpointSourceSpec `json:"spec"`
	Rules      []Rule                        `json:"rules,omitempty"`
}

// JourneySource is what an evaluator knows of one of its sources.
type JourneySource struct {
	Name       string `json:"name"`
	Touchpoint string `json:"touchpoint"`
	System     string `json:"system,omitempty"`
	Financial  bool   `json:"financial,omitempty"`
}

// Journey is what an evaluator needs: the map and its resolved sources.
type Journey struct {
	Version    int                     `json:"version"`
	Namespace  string                  `json:"namespace"`
	Name       string                  `json:"name"`
	UID        string                  `json:"uid"`
	Generation int64                   `json:"generation"`
	Spec       v1alpha1.JourneyMapSpec `json:"spec"`
	Sources    []JourneySource         `json:"sources,omitempty"`
}

// Encode returns the file's content and its hash ("sha256:<hex>"), which
// changes exactly when the content does. CEL is written as written:
// platform teams read it with `kubectl get cm -o yaml`, where json.Marshal's
// HTML escaping would show `event.amount \u003e= 1.0`.
func Encode(cfg any) (data []byte, hash string, err error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, "", fmt.Errorf("encoding run configuration: %w", err)
	}
	// Without the Encoder's newline, a configuration holding no <, > or &
	// keeps the bytes, and so the hash, it had: upgrading rolls out only
	// the workloads whose configuration reads differently.
	data = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	sum := sha256.Sum256(data)
	return data, "sha256:" + hex.EncodeToString(sum[:]), nil
}

// MatchingRules returns, in name order, the rules of the source's namespace
// whose selector matches its labels. Rules with an invalid selector match
// nothing (their own status says why).
func MatchingRules(src *v1alpha1.TouchpointSource, rules []v1alpha1.ValidationRule) []v1alpha1.ValidationRule {
	var out []v1alpha1.ValidationRule
	for _, r := range rules {
		if r.Namespace != src.Namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&r.Spec.SourceSelector)
		if err != nil || !sel.Matches(labels.Set(src.Labels)) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RunReport is what an ingest pod reports in its termination message: the
// run's summary and what the source holds for review after it.
type RunReport struct {
	v1alpha1.RunSummary `json:",inline"`
	Quarantine          *v1alpha1.QuarantineStatus `json:"quarantine,omitempty"`
}

// Review is what a QuarantineReview's Job needs: the review as admitted.
// The store's DSN comes from the environment, as for ingest.
type Review struct {
	Version   int                           `json:"version"`
	Namespace string                        `json:"namespace"`
	Name      string                        `json:"name"`
	UID       string                        `json:"uid"`
	Spec      v1alpha1.QuarantineReviewSpec `json:"spec"`
}

// ReviewID is a review's identity in the ledger: a review is applied once
// per object, even when its Job runs again.
func (r Review) ReviewID() string { return r.Namespace + "/" + r.Name + "/" + r.UID }

// ReviewReport is what a review's Job reports in its termination message.
type ReviewReport struct {
	// Outcome is Succeeded or Failed; Message says why it failed.
	Outcome string `json:"outcome"`
	Message string `json:"message,omitempty"`
	// Repeated says the review had been applied before (a rerun of its
	// Job): nothing changed, the figures are the first application's.
	Repeated                        bool `json:"repeated,omitempty"`
	v1alpha1.QuarantineReviewStatus `json:",inline"`
}

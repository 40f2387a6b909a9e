package controllers

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Reasons a reconcile failed and will be retried, as Ready=False and
// Reconciling=True say them: each names the step, so that `kubectl
// describe` tells a quota refusing a workload from an API server that
// could not be read.
const (
	// ReasonReadFailed: the cache or the API server could not be read.
	ReasonReadFailed = "ReadFailed"
	// ReasonRenderFailed: an owned object could not be rendered from the spec.
	ReasonRenderFailed = "RenderFailed"
	// ReasonPruneFailed: a workload the spec no longer asks for could not
	// be removed.
	ReasonPruneFailed = "PruneFailed"
	// ReasonSecretReadFailed: a referenced Secret could not be looked up
	// (a missing one is SecretMissing, not a failure).
	ReasonSecretReadFailed = "SecretReadFailed"
	// ReasonJobCreateFailed: a requested run's or a review's Job was refused.
	ReasonJobCreateFailed = "JobCreateFailed"
	// ReasonReconcileFailed: a failure no step claimed.
	ReasonReconcileFailed = "ReconcileFailed"
)

// failure is an error with the reason its condition reports.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// failed gives err its reason; nil stays nil, and an error that has one
// keeps it.
func failed(reason string, err error) error {
	if err == nil {
		return nil
	}
	var f *failure
	if errors.As(err, &f) {
		return err
	}
	return &failure{reason: reason, err: err}
}

// failedf is failed with a message in front of err.
func failedf(reason string, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return failed(reason, fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err))
}

// reasonOf is the reason a reconcile error reports.
func reasonOf(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.reason
	}
	if apierrors.IsConflict(err) {
		return "Conflict"
	}
	return ReasonReconcileFailed
}

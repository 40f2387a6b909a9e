package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The accessors below let one set of condition helpers serve all kinds.

// GetConditions returns the status conditions.
func (in *TouchpointSource) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *TouchpointSource) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the status conditions.
func (in *ValidationRule) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *ValidationRule) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// GetConditions returns the status conditions.
func (in *JourneyMap) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *JourneyMap) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation the status describes.
func (in *TouchpointSource) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// SetObservedGeneration records the generation the status describes.
func (in *ValidationRule) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// SetObservedGeneration records the generation the status describes.
func (in *JourneyMap) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *QuarantineReview) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *QuarantineReview) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation the status describes.
func (in *QuarantineReview) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// Package v1alpha1 is the journey API: TouchpointSource, ValidationRule and
// JourneyMap in the group journey.cjm.dev. See shared/design/API.md for the
// contract these types implement.
//
// +kubebuilder:object:generate=true
// +groupName=journey.cjm.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "journey.cjm.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

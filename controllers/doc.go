// Package controllers reconciles TouchpointSources, ValidationRules and
// JourneyMaps into the workloads that ingest, validate and evaluate journey
// events. The RBAC markers here are the manager's whole ClusterRole.
package controllers

// The manager reads every journey resource and writes their status and Events.
// +kubebuilder:rbac:groups=journey.cjm.dev,resources=touchpointsources;validationrules;journeymaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=journey.cjm.dev,resources=touchpointsources/status;validationrules/status;journeymaps/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

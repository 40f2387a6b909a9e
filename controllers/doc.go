// Package controllers reconciles TouchpointSources, ValidationRules and
// JourneyMaps into the workloads that ingest, validate and evaluate journey
// events, and reports what happened in status conditions and Events. The
// RBAC markers here are the manager's whole ClusterRole.
package controllers

// Journey resources: read them, write their status.
// +kubebuilder:rbac:groups=journey.cjm.dev,resources=touchpointsources;validationrules;journeymaps;quarantinereviews,verbs=get;list;watch
// +kubebuilder:rbac:groups=journey.cjm.dev,resources=touchpointsources/status;validationrules/status;journeymaps/status;quarantinereviews/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Owned workloads, applied with server-side apply.
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete

// Ingest pods' termination messages carry run summaries.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// Secrets: only get, of the ones a resource names, to report a missing one;
// never list or watch, and their data is not requested (metadata only).
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

package controllers

import (
	"context"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// Rules and maps select sources by label. A change to one side wakes only
// the objects of the other side it concerns, before and after the change
// (a rule whose selector moved must leave the sources it no longer
// selects): waking every object of the namespace made each of N rules or
// maps reconcile all M sources, N×M reconciles to no effect.

// sourceSelector is the selector of a kind that selects sources.
func sourceSelector(o client.Object) *metav1.LabelSelector {
	switch o := o.(type) {
	case *v1alpha1.ValidationRule:
		return &o.Spec.SourceSelector
	case *v1alpha1.JourneyMap:
		return &o.Spec.SourceSelector
	}
	return nil
}

// selects reports whether sel matches the object's labels. A selector that
// does not parse selects nothing, as runconfig.MatchingRules reads it;
// its owner reports it.
func selects(sel *metav1.LabelSelector, o client.Object) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(o.GetLabels()))
}

// sourcesSelectedBy wakes, for a rule's or map's event, the sources it
// selects.
func sourcesSelectedBy(c client.Client) handler.EventHandler {
	return related(c, func() client.ObjectList { return &v1alpha1.TouchpointSourceList{} },
		func(source, selector client.Object) bool { return selects(sourceSelector(selector), source) })
}

// selectorsOf wakes, for a source's event, the rules or maps (newList's
// kind) that select it.
func selectorsOf(c client.Client, newList func() client.ObjectList) handler.EventHandler {
	return related(c, newList, func(selector, source client.Object) bool { return selects(sourceSelector(selector), source) })
}

// related enqueues the objects of newList's kind, in the event's
// namespace, that match the changed object's old or new version.
func related(c client.Client, newList func() client.ObjectList, match func(listed, changed client.Object) bool) handler.EventHandler {
	enqueue := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], changed ...client.Object) {
		list := newList()
		ns := changed[0].GetNamespace()
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			log.FromContext(ctx).Error(err, "listing objects to requeue", "namespace", ns)
			return
		}
		items, err := apimeta.ExtractList(list)
		if err != nil {
			return
		}
		for _, it := range items {
			listed, ok := it.(client.Object)
			if !ok {
				continue
			}
			for _, ch := range changed {
				if match(listed, ch) {
					q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: listed.GetNamespace(), Name: listed.GetName()}})
					break
				}
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.ObjectOld, e.ObjectNew)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
	}
}

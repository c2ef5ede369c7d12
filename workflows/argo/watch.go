package argo

import (
	"context"
	"fmt"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/scanner-ops/onboarding-service/workflows"
)

// Changes returns a channel that receives a value after one of the
// engine's workflows changed. Nothing is sent before Start.
func (e *Engine) Changes() <-chan struct{} {
	return e.changes
}

// Start watches the engine's workflows until ctx ends, restarting the
// watch with Config.WatchBackoff whenever it closes or fails. Calls after
// the first do nothing.
func (e *Engine) Start(ctx context.Context) {
	if !e.started.CompareAndSwap(false, true) {
		return
	}
	go e.watchLoop(ctx)
}

func (e *Engine) watchLoop(ctx context.Context) {
	backoff := e.cfg.WatchBackoff
	for {
		delivered, err := e.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if delivered {
			backoff = e.cfg.WatchBackoff
		}
		delay := backoff.Step()
		if err != nil {
			e.cfg.Logger.Warn("watching Argo workflows failed; restarting the watch", "namespace", e.cfg.Namespace,
				"retry_in", delay.String(), "error", err)
		} else {
			e.cfg.Logger.Debug("the Argo workflow watch closed; restarting it", "namespace", e.cfg.Namespace,
				"retry_in", delay.String())
		}

		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// watchOnce runs one watch until it closes, fails or ctx ends. delivered
// reports whether it passed on at least one event.
func (e *Engine) watchOnce(ctx context.Context) (delivered bool, err error) {
	w, err := e.client.ArgoprojV1alpha1().Workflows(e.cfg.Namespace).Watch(ctx, listOptions(e.selector, 0))
	if err != nil {
		return false, fmt.Errorf("starting the watch: %w", err)
	}
	defer w.Stop()

	for {
		select {
		case <-ctx.Done():
			return delivered, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return delivered, nil
			}
			if ev.Type == watch.Error {
				return delivered, fmt.Errorf("watch error event: %w", apierrors.FromObject(ev.Object))
			}
			wf, isWorkflow := ev.Object.(*v1alpha1.Workflow)
			if !isWorkflow || !e.owns(wf) {
				continue
			}
			delivered = true
			e.notify()
		}
	}
}

// owns reports whether wf is one of the engine's workflows. The watch
// requests the same selector from the API server, but fake clients ignore
// it.
func (e *Engine) owns(wf *v1alpha1.Workflow) bool {
	if _, ok := workflows.Steps[workflows.Operation(wf.Labels[LabelOperation])]; !ok {
		return false
	}
	return e.selector.Matches(labels.Set(wf.Labels))
}

// notify signals a change without blocking. When a signal is already
// pending, it covers this change too.
func (e *Engine) notify() {
	select {
	case e.changes <- struct{}{}:
	default:
	}
}

// ownSelector selects the workflows with the operation label and the
// engine's instance id, or, without an instance id, the workflows without
// one, as Argo's controller does. It panics when instanceID is not a valid
// label value, which Config.Validate rules out.
func ownSelector(instanceID string) labels.Selector {
	op, err := labels.NewRequirement(LabelOperation, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	instance, err := labels.NewRequirement(LabelInstanceID, selection.DoesNotExist, nil)
	if instanceID != "" {
		instance, err = labels.NewRequirement(LabelInstanceID, selection.Equals, []string{instanceID})
	}
	if err != nil {
		panic(fmt.Sprintf("invalid Argo controller instance id %q: %v", instanceID, err))
	}
	return labels.NewSelector().Add(*op, *instance)
}

func listOptions(selector labels.Selector, limit int64) metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: selector.String(), Limit: limit}
}

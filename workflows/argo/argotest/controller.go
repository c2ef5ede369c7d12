// Package argotest runs the scanner WorkflowTemplates on a fake Argo
// clientset the way Argo's workflow controller would, so that the argo
// engine can be tested end to end without a cluster.
package argotest

import (
	"context"
	"fmt"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/scanner-ops/onboarding-service/workflows/templates"
)

// Labels that Argo's controller sets on the workflows it runs.
const (
	labelInstanceID = "workflows.argoproj.io/controller-instanceid"
	labelPhase      = "workflows.argoproj.io/phase"
	labelCompleted  = "workflows.argoproj.io/completed"
)

// defaultTick is the polling interval of Run when Controller.Tick is zero.
const defaultTick = 5 * time.Millisecond

// Controller advances the workflows of one namespace of a fake clientset
// the way Argo v3.7's controller runs a steps template with a
// retryStrategy. The phase goes from "" to Pending, Running, and Succeeded
// or Failed. The node tree has a root Steps node, one StepGroup node "[i]"
// per step, a Retry node per step named after it, and Pod attempts
// "step(0)", "step(1)" and so on. Each attempt runs StepDelay. Only one step
// per step group is supported, which is what the scanner templates use.
//
// Fields must not change while Run is running.
type Controller struct {
	Client versioned.Interface
	// Namespace contains the workflows and their WorkflowTemplates; empty
	// means "default".
	Namespace string
	// InstanceID is the controller's instance id: it runs only workflows
	// whose instance id label equals it, or, when empty, those without the
	// label, like Argo's controller.
	InstanceID string
	// StepDelay is how long each attempt runs; zero makes every Sync
	// advance each workflow by one transition.
	StepDelay time.Duration
	// RetryDelay is the backoff between a failed attempt and the next one.
	RetryDelay time.Duration
	// Tick is the polling interval of Run; zero means 5ms.
	Tick time.Duration
	// FailStep, when set, is asked once per attempt: the attempt fails
	// when it runs the returned step and fewer than failures attempts of
	// that step have failed. More failures than the template's retry
	// limit fail the workflow.
	FailStep func(wf *v1alpha1.Workflow) (step string, failures int)
	// Delete, when set, is called after every update the controller
	// writes; returning true deletes the workflow, as an operator or a TTL
	// would.
	Delete func(wf *v1alpha1.Workflow) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Run calls Sync every Tick until ctx ends, and returns the first error
// of Sync that is not caused by ctx ending.
func (c *Controller) Run(ctx context.Context) error {
	tick := c.Tick
	if tick <= 0 {
		tick = defaultTick
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Sync advances every workflow of the namespace that this controller runs
// by at most one transition.
func (c *Controller) Sync(ctx context.Context) error {
	list, err := c.Client.ArgoprojV1alpha1().Workflows(c.namespace()).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing workflows: %w", err)
	}
	for i := range list.Items {
		wf := &list.Items[i]
		if wf.Labels[labelInstanceID] != c.InstanceID {
			continue
		}
		if err := c.advance(ctx, wf); err != nil {
			return err
		}
	}
	return nil
}

// advance applies the next transition of wf, if one is due, and writes
// the workflow back.
func (c *Controller) advance(ctx context.Context, wf *v1alpha1.Workflow) error {
	if wf.Status.Phase.Completed() {
		return nil
	}

	changed, err := c.transition(ctx, wf)
	if err != nil || !changed {
		return err
	}
	if wf.Labels == nil {
		wf.Labels = map[string]string{}
	}
	wf.Labels[labelPhase] = string(wf.Status.Phase)
	if wf.Status.Phase.Completed() {
		wf.Labels[labelCompleted] = "true"
	}

	updated, err := c.Client.ArgoprojV1alpha1().Workflows(c.namespace()).Update(ctx, wf, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("updating workflow %s: %w", wf.Name, err)
	}
	if c.Delete != nil && c.Delete(updated) {
		err := c.Client.ArgoprojV1alpha1().Workflows(c.namespace()).Delete(ctx, wf.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting workflow %s: %w", wf.Name, err)
		}
	}
	return nil
}

// transition changes wf in memory and reports whether it changed.
func (c *Controller) transition(ctx context.Context, wf *v1alpha1.Workflow) (bool, error) {
	now := c.now()
	switch wf.Status.Phase {
	case v1alpha1.WorkflowUnknown:
		wf.Status.Phase = v1alpha1.WorkflowPending
		return true, nil
	case v1alpha1.WorkflowPending:
		steps, err := c.resolve(ctx, wf)
		if err != nil {
			// Argo ends a workflow whose template cannot be resolved in
			// phase Error with the reason as its message.
			wf.Status.Phase = v1alpha1.WorkflowError
			wf.Status.Message = err.Error()
			wf.Status.FinishedAt = metav1.NewTime(now)
			return true, nil
		}
		wf.Status.Phase = v1alpha1.WorkflowRunning
		wf.Status.StartedAt = metav1.NewTime(now)
		run := newRun(wf, steps)
		run.startRoot(now)
		run.startStep(0, now)
		return true, nil
	default:
		steps, err := c.resolve(ctx, wf)
		if err != nil {
			return false, err
		}
		return newRun(wf, steps).advance(now, c.StepDelay, c.RetryDelay, c.FailStep), nil
	}
}

// resolve reads the steps of the workflow's template from the clientset.
func (c *Controller) resolve(ctx context.Context, wf *v1alpha1.Workflow) ([]plannedStep, error) {
	if wf.Spec.WorkflowTemplateRef == nil {
		return nil, fmt.Errorf("workflow %s has no workflowTemplateRef, which this test controller requires", wf.Name)
	}
	name := wf.Spec.WorkflowTemplateRef.Name
	tmpl, err := c.Client.ArgoprojV1alpha1().WorkflowTemplates(c.namespace()).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return planSteps(tmpl)
}

func (c *Controller) namespace() string {
	if c.Namespace == "" {
		return "default"
	}
	return c.Namespace
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

// InstallTemplates creates the embedded WorkflowTemplates in namespace,
// as `kubectl apply -f workflows/templates` would.
func InstallTemplates(ctx context.Context, client versioned.Interface, namespace string) error {
	loaded, err := templates.Load()
	if err != nil {
		return err
	}
	for _, tmpl := range loaded {
		tmpl.Namespace = namespace
		_, err := client.ArgoprojV1alpha1().WorkflowTemplates(namespace).Create(ctx, tmpl, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating WorkflowTemplate %s: %w", tmpl.Name, err)
		}
	}
	return nil
}

package argotest

import (
	"fmt"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// plannedStep is one step of a template's entrypoint.
type plannedStep struct {
	name string
	// retried is true when the step's template has a retryStrategy, which
	// gives the step a Retry node above its Pod attempts.
	retried bool
	// limit is the number of retries after the first attempt.
	limit int
}

// planSteps lists the steps of the template's entrypoint, which must be a
// steps template with one step per group. A retryStrategy without a limit
// counts as no retry here, although Argo then retries without end.
func planSteps(tmpl *v1alpha1.WorkflowTemplate) ([]plannedStep, error) {
	entry := findTemplate(tmpl.Spec.Templates, tmpl.Spec.Entrypoint)
	if entry == nil || len(entry.Steps) == 0 {
		return nil, fmt.Errorf("template %s: entrypoint %q is not a steps template", tmpl.Name, tmpl.Spec.Entrypoint)
	}

	var planned []plannedStep
	for i, group := range entry.Steps {
		if len(group.Steps) != 1 {
			return nil, fmt.Errorf("template %s: step group %d has %d steps; the test controller runs one per group",
				tmpl.Name, i, len(group.Steps))
		}
		step := group.Steps[0]
		leaf := findTemplate(tmpl.Spec.Templates, step.Template)
		if leaf == nil {
			return nil, fmt.Errorf("template %s: step %s uses the unknown template %q", tmpl.Name, step.Name, step.Template)
		}
		p := plannedStep{name: step.Name}
		if rs := leaf.RetryStrategy; rs != nil {
			p.retried = true
			if rs.Limit != nil {
				p.limit = rs.Limit.IntValue()
			}
		}
		planned = append(planned, p)
	}
	return planned, nil
}

func findTemplate(all []v1alpha1.Template, name string) *v1alpha1.Template {
	for i := range all {
		if all[i].Name == name {
			return &all[i]
		}
	}
	return nil
}

// run edits the node tree of one workflow.
type run struct {
	wf    *v1alpha1.Workflow
	steps []plannedStep
}

func newRun(wf *v1alpha1.Workflow, steps []plannedStep) *run {
	if wf.Status.Nodes == nil {
		wf.Status.Nodes = v1alpha1.Nodes{}
	}
	return &run{wf: wf, steps: steps}
}

func (r *run) rootID() string { return r.wf.NodeID(r.wf.Name) }

func (r *run) groupName(i int) string { return fmt.Sprintf("%s[%d]", r.wf.Name, i) }

func (r *run) stepName(i int) string { return r.groupName(i) + "." + r.steps[i].name }

func (r *run) attemptName(i, attempt int) string {
	return fmt.Sprintf("%s(%d)", r.stepName(i), attempt)
}

func (r *run) get(name string) (v1alpha1.NodeStatus, bool) {
	n, ok := r.wf.Status.Nodes[r.wf.NodeID(name)]
	return n, ok
}

// add creates a node below parent; display names follow Argo: the name
// without the boundary's name and the separator after it.
func (r *run) add(parent, name, display string, typ v1alpha1.NodeType, now time.Time) {
	id := r.wf.NodeID(name)
	r.wf.Status.Nodes[id] = v1alpha1.NodeStatus{
		ID: id, Name: name, DisplayName: display, Type: typ, Phase: v1alpha1.NodeRunning,
		BoundaryID: r.rootID(), StartedAt: metav1.NewTime(now),
	}
	if parent != "" {
		pid := r.wf.NodeID(parent)
		p := r.wf.Status.Nodes[pid]
		p.Children = append(p.Children, id)
		r.wf.Status.Nodes[pid] = p
	}
}

func (r *run) finish(name string, phase v1alpha1.NodePhase, message string, now time.Time) {
	id := r.wf.NodeID(name)
	n := r.wf.Status.Nodes[id]
	n.Phase = phase
	n.Message = message
	n.FinishedAt = metav1.NewTime(now)
	r.wf.Status.Nodes[id] = n
}

func (r *run) startRoot(now time.Time) {
	id := r.rootID()
	r.wf.Status.Nodes[id] = v1alpha1.NodeStatus{
		ID: id, Name: r.wf.Name, DisplayName: r.wf.Name, Type: v1alpha1.NodeTypeSteps,
		Phase: v1alpha1.NodeRunning, StartedAt: metav1.NewTime(now),
	}
}

// startStep adds step group i, chained like Argo's: the first group is a
// child of the root, later ones of the previous step's last attempt.
func (r *run) startStep(i int, now time.Time) {
	parent := r.wf.Name
	if i > 0 {
		parent = r.lastLeafName(i - 1)
	}
	r.add(parent, r.groupName(i), fmt.Sprintf("[%d]", i), v1alpha1.NodeTypeStepGroup, now)
	if !r.steps[i].retried {
		r.add(r.groupName(i), r.stepName(i), r.steps[i].name, v1alpha1.NodeTypePod, now)
		return
	}
	r.add(r.groupName(i), r.stepName(i), r.steps[i].name, v1alpha1.NodeTypeRetry, now)
	r.startAttempt(i, 0, now)
}

func (r *run) startAttempt(i, attempt int, now time.Time) {
	r.add(r.stepName(i), r.attemptName(i, attempt), fmt.Sprintf("%s(%d)", r.steps[i].name, attempt), v1alpha1.NodeTypePod, now)
}

// current returns the index of the last started step group.
func (r *run) current() int {
	i := 0
	for i+1 < len(r.steps) {
		if _, ok := r.get(r.groupName(i + 1)); !ok {
			break
		}
		i++
	}
	return i
}

// attempts returns the number of attempts of step i started so far.
func (r *run) attempts(i int) int {
	n, _ := r.get(r.stepName(i))
	if !r.steps[i].retried {
		return 1
	}
	return len(n.Children)
}

func (r *run) lastLeafName(i int) string {
	if !r.steps[i].retried {
		return r.stepName(i)
	}
	return r.attemptName(i, r.attempts(i)-1)
}

// advance applies the next due transition of a running workflow and
// reports whether it changed anything.
func (r *run) advance(now time.Time, stepDelay, retryDelay time.Duration, failStep func(*v1alpha1.Workflow) (string, int)) bool {
	i := r.current()
	step := r.steps[i]
	leaf, _ := r.get(r.lastLeafName(i))

	if leaf.Phase.Fulfilled(nil) {
		// The last attempt failed and the Retry node waits for its backoff.
		if now.Sub(leaf.FinishedAt.Time) < retryDelay {
			return false
		}
		r.setMessage(r.stepName(i), "")
		r.startAttempt(i, r.attempts(i), now)
		return true
	}
	if now.Sub(leaf.StartedAt.Time) < stepDelay {
		return false
	}

	attempt := r.attempts(i) - 1
	failures := 0
	if failStep != nil {
		if name, n := failStep(r.wf); name == step.name {
			failures = n
		}
	}
	if attempt >= failures {
		r.succeedStep(i, now)
		return true
	}

	message := fmt.Sprintf("main: Error (exit code 1): step %s failed on attempt %d", step.name, attempt)
	r.finish(leaf.Name, v1alpha1.NodeFailed, message, now)
	if step.retried && attempt < step.limit {
		r.setMessage(r.stepName(i), fmt.Sprintf("Backoff for %s", retryDelay))
		return true
	}
	r.failStep(i, now)
	return true
}

func (r *run) succeedStep(i int, now time.Time) {
	r.finish(r.lastLeafName(i), v1alpha1.NodeSucceeded, "", now)
	if r.steps[i].retried {
		r.finish(r.stepName(i), v1alpha1.NodeSucceeded, "", now)
	}
	r.finish(r.groupName(i), v1alpha1.NodeSucceeded, "", now)
	if i+1 < len(r.steps) {
		r.startStep(i+1, now)
		return
	}

	r.finish(r.wf.Name, v1alpha1.NodeSucceeded, "", now)
	r.wf.Status.Phase = v1alpha1.WorkflowSucceeded
	r.wf.Status.FinishedAt = metav1.NewTime(now)
	r.wf.Status.Progress = v1alpha1.Progress(fmt.Sprintf("%d/%d", len(r.steps), len(r.steps)))
}

// failStep ends step i and the workflow after its last allowed attempt,
// with the messages Argo writes.
func (r *run) failStep(i int, now time.Time) {
	if r.steps[i].retried {
		r.finish(r.stepName(i), v1alpha1.NodeFailed, "No more retries left", now)
	}
	message := fmt.Sprintf("child '%s' failed", r.wf.NodeID(r.stepName(i)))
	r.finish(r.groupName(i), v1alpha1.NodeFailed, message, now)
	r.finish(r.wf.Name, v1alpha1.NodeFailed, message, now)
	r.wf.Status.Phase = v1alpha1.WorkflowFailed
	r.wf.Status.Message = message
	r.wf.Status.FinishedAt = metav1.NewTime(now)
}

func (r *run) setMessage(name, message string) {
	id := r.wf.NodeID(name)
	n := r.wf.Status.Nodes[id]
	n.Message = message
	r.wf.Status.Nodes[id] = n
}

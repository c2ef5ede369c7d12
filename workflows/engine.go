// Package workflows runs the asynchronous scanner operations: the workflow
// engine port and its implementations, the per-config locks, the dispatcher
// that starts or queues an operation, and the reconciler that follows every
// job to its end.
package workflows

import (
	"context"
	"errors"
)

// Phase is the coarse state of a workflow as the engine reports it. Its values
// are the job statuses of the API.
type Phase string

// Workflow phases.
const (
	PhasePending   Phase = "pending"
	PhaseRunning   Phase = "running"
	PhaseSucceeded Phase = "succeeded"
	PhaseFailed    Phase = "failed"
)

// Terminal reports whether the phase is final.
func (p Phase) Terminal() bool {
	return p == PhaseSucceeded || p == PhaseFailed
}

// Operation names the leaf workflows an engine can run. The values match
// store.Operation.
type Operation string

// Leaf workflow operations.
const (
	OperationRemove    Operation = "remove"
	OperationReinstall Operation = "reinstall"
	OperationUninstall Operation = "uninstall"
)

// Steps lists, in order, the step names each operation reports as its
// current step. Engines and templates use exactly these names.
var Steps = map[Operation][]string{
	OperationRemove:    {"delete-stack", "awaiting-stack-deleted", "delete-scanner-config", "post-status"},
	OperationReinstall: {"delete-stack", "awaiting-stack-deleted", "create-stack", "awaiting-stack-created", "post-status"},
	OperationUninstall: {"delete-stack", "awaiting-stack-deleted", "post-status"},
}

// Simulation injects failures into the local engine: step FailAtStep fails
// Failures times before it succeeds. Other engines ignore it.
type Simulation struct {
	FailAtStep string
	Failures   int
}

// Submission describes one workflow to start. Name is the job id and the
// workflow's name; submitting a name the engine already has is not an error.
type Submission struct {
	Name                string
	Operation           Operation
	OrgID               string
	ConfigID            string
	ParentID            string
	CloudProvider       string
	CloudOrganizationID string
	Region              string
	// ResumeStep, when set, starts the workflow at that step instead of the
	// first; engines that cannot resume ignore it.
	ResumeStep string
	// RetryAttempt is the retry count already spent before a resume.
	RetryAttempt int
	Simulate     *Simulation
}

// Status is an engine's report on one workflow.
type Status struct {
	Phase Phase
	// CurrentStep is the running step, or the last step once the workflow
	// has finished; empty before the first step starts.
	CurrentStep string
	// RetryAttempt counts the failed step attempts that were retried so far.
	RetryAttempt int
	// Message explains a failure; empty otherwise.
	Message string
}

// Engine runs workflows. Implementations are safe for concurrent use.
type Engine interface {
	// Name identifies the engine in job rows ("local", "argo").
	Name() string
	// Submit starts the workflow, idempotently by name. Errors that wrap
	// ErrPermanent will not go away by retrying.
	Submit(ctx context.Context, s Submission) error
	// Status reads the workflow's state; ErrWorkflowNotFound when the engine
	// has no workflow of that name.
	Status(ctx context.Context, name string) (Status, error)
	// Ping checks that the engine is reachable, for readiness probes.
	Ping(ctx context.Context) error
}

// Resumer is implemented by engines whose workflows live only as long as the
// process (the local engine): a job whose workflow is unknown to such an
// engine is submitted again from its current step instead of failed.
type Resumer interface {
	ResumesLostWorkflows() bool
}

// Canceler is implemented by engines that can stop one workflow, such as
// the local engine when another replica has taken over the workflow's job.
type Canceler interface {
	Cancel(name string)
}

// Notifier is implemented by engines that can signal a change of any
// workflow, so the reconciler does not have to wait for its next tick.
type Notifier interface {
	// Changes returns a channel that receives a value after workflow
	// changes; sends never block, so several changes may merge into one.
	Changes() <-chan struct{}
}

var (
	// ErrWorkflowNotFound means the engine has no workflow of that name.
	ErrWorkflowNotFound = errors.New("workflow not found")
	// ErrPermanent marks submission errors that retrying cannot fix, such as
	// a forbidden namespace or an invalid workflow.
	ErrPermanent = errors.New("permanent workflow engine error")
)

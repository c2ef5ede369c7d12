package argo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/scanner-ops/onboarding-service/workflows"
)

// errVanished means a workflow that the API server reported as existing
// was gone when read; creating it again is worth a retry.
var errVanished = errors.New("workflow disappeared between create and get")

// Submit creates the job's Workflow. Submitting a job whose workflow exists
// already succeeds; a workflow of that name created for another job is an
// error wrapping ErrNameConflict. Transient API errors are retried with
// Config.SubmitBackoff within ctx's deadline. Errors that retrying cannot
// fix (unknown operation, forbidden, invalid, missing namespace or CRD,
// name conflict) wrap workflows.ErrPermanent.
func (e *Engine) Submit(ctx context.Context, s workflows.Submission) error {
	if _, ok := workflows.Steps[s.Operation]; !ok {
		return fmt.Errorf("submitting workflow %s: unknown operation %q: %w", s.Name, s.Operation, workflows.ErrPermanent)
	}
	wf := BuildWorkflow(s, e.cfg)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.SubmitTimeout)
	defer cancel()

	err := e.retryTransient(ctx, "creating workflow "+wf.Name, func(ctx context.Context) error {
		_, err := e.client.ArgoprojV1alpha1().Workflows(e.cfg.Namespace).Create(ctx, wf.DeepCopy(), metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		return e.checkExisting(ctx, wf.Name, s.Name)
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNameConflict):
		return err
	}

	where := fmt.Sprintf("creating workflow %s in namespace %s", wf.Name, e.cfg.Namespace)
	if hint, ok := permanentHint(err); ok {
		return fmt.Errorf("%s: %s: %w: %w", where, hint, err, workflows.ErrPermanent)
	}
	return fmt.Errorf("%s: %w", where, err)
}

// checkExisting decides whether the existing workflow name belongs to the
// job jobID.
func (e *Engine) checkExisting(ctx context.Context, name, jobID string) error {
	existing, err := e.client.ArgoprojV1alpha1().Workflows(e.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return errVanished
	}
	if err != nil {
		return err
	}
	if owner := existing.Annotations[AnnotationJobID]; owner != jobID {
		return fmt.Errorf("workflow %s in namespace %s was created for job %q, not %q: %w: %w",
			name, e.cfg.Namespace, owner, jobID, ErrNameConflict, workflows.ErrPermanent)
	}
	return nil
}

// retryTransient calls op until it succeeds, fails with an error that is
// not transient, or runs out of attempts or of ctx's time. It returns the
// last error.
func (e *Engine) retryTransient(ctx context.Context, what string, op func(context.Context) error) error {
	backoff := e.cfg.SubmitBackoff
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || !isTransient(err) || ctx.Err() != nil {
			return err
		}
		if backoff.Steps <= 1 {
			return fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		delay := backoff.Step()
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return err
		}

		e.cfg.Logger.Warn("retrying a transient Kubernetes API error", "operation", what,
			"namespace", e.cfg.Namespace, "attempt", attempt, "retry_in", delay.String(), "error", err)
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
	}
}

// isTransient reports whether err may go away by itself: API server
// timeouts, throttling, internal and unavailable errors, and network errors.
func isTransient(err error) bool {
	switch {
	case errors.Is(err, errVanished),
		apierrors.IsServerTimeout(err),
		apierrors.IsTimeout(err),
		apierrors.IsTooManyRequests(err),
		apierrors.IsInternalError(err),
		apierrors.IsServiceUnavailable(err),
		apierrors.IsUnexpectedServerError(err),
		utilnet.IsConnectionRefused(err),
		utilnet.IsConnectionReset(err),
		utilnet.IsProbableEOF(err):
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// permanentHint returns, for API errors that no retry fixes, what the
// operator should check.
func permanentHint(err error) (string, bool) {
	switch {
	case apierrors.IsForbidden(err):
		return "the service's identity may not create workflows there (apply workflows/templates/rbac.yaml in that namespace)", true
	case apierrors.IsNotFound(err):
		return "the namespace does not exist or the Argo Workflows CRDs are not installed", true
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return "the API server rejected the workflow as invalid", true
	case apierrors.IsMethodNotSupported(err), apierrors.IsRequestEntityTooLargeError(err):
		return "the API server does not accept the workflow", true
	}
	return "", false
}

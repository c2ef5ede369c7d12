package workflows

import (
	"context"
	"fmt"

	"github.com/scanner-ops/onboarding-service/store"
)

// MergedError is returned for a request of a batch or cloud organisation
// removal whose operation could not be queued under its own parent. The
// config already has a queued action that the request merged into (the same
// action from another parent) or that wins over it (a queued removal). The work of
// the request is then done, or made pointless, by the queued action, which
// is reported under its own parent.
type MergedError struct {
	ConfigID string
	Queued   store.PendingAction
}

func (e *MergedError) Error() string {
	by := "a request without a parent"
	if e.Queued.ParentID != "" {
		by = e.Queued.ParentID
	}
	return fmt.Sprintf("config %s already has a queued %s from %s; this request was merged into it",
		e.ConfigID, e.Queued.Action, by)
}

// queue queues req's operation behind the config's running workflow. When
// that replaces an action another parent had queued, it records a failed
// job under that parent in the same transaction, so the parent's listing
// does not lose the item. It returns whether the request coalesced into an
// action already queued, and a *MergedError when the request's own parent
// will not see a job for it.
func (d *Dispatcher) queue(ctx context.Context, scanner store.Scanner, req Request) (bool, error) {
	var res store.EnqueueResult
	err := d.store.Transaction(ctx, func(tx *store.Tx) error {
		var err error
		res, err = tx.QueueAction(ctx, store.PendingAction{
			OrgID:    req.OrgID,
			ConfigID: req.ConfigID,
			Action:   store.Operation(req.Operation),
			ParentID: req.ParentID,
		})
		if err != nil {
			return err
		}

		if r := res.Replaced; r != nil && r.ParentID != "" && (r.ParentID != res.Stored.ParentID || r.Action != res.Stored.Action) {
			reason := fmt.Sprintf("the queued %s was superseded by a later %s request", r.Action, req.Operation)
			return d.recordUnrun(ctx, tx, jobLike(scanner), *r, store.JobFailed, reason)
		}
		return nil
	})
	if err != nil {
		return false, err
	}

	if req.ParentID != "" && (res.Stored.ParentID != req.ParentID || res.Stored.Action != store.Operation(req.Operation)) {
		return res.Coalesced, &MergedError{ConfigID: req.ConfigID, Queued: res.Stored}
	}
	return res.Coalesced, nil
}

// recordUnrun writes a finished job under the parent of a queued action that
// will never run, because the config was removed or a later request
// superseded it. Without it the parent's listing would count neither a job
// nor a queued action for the item, and report the work done. status is
// failed, except for a removal whose config is already gone: its goal is
// reached.
func (d *Dispatcher) recordUnrun(ctx context.Context, tx *store.Tx, like store.Job, a store.PendingAction, status store.JobStatus, reason string) error {
	if a.ParentID == "" {
		return nil
	}

	now := d.now()
	job := store.Job{
		Operation:           a.Action,
		OrgID:               a.OrgID,
		ParentID:            a.ParentID,
		ConfigID:            a.ConfigID,
		CloudProvider:       like.CloudProvider,
		CloudOrganizationID: like.CloudOrganizationID,
		Region:              like.Region,
		Status:              status,
		Error:               reason,
		Engine:              EngineService,
		Submitted:           true,
		CreatedAt:           now,
		UpdatedAt:           now,
	}
	var err error
	job.ID, err = insertWithUniqueID(
		func(suffix int) string { return ScannerJobID(Operation(a.Action), a.ConfigID, now, suffix) },
		func(id string) error {
			job.ID = id
			return tx.CreateJob(ctx, job)
		})
	if err != nil {
		return fmt.Errorf("recording the queued %s of config %s that will not run: %w", a.Action, a.ConfigID, err)
	}
	d.logger.Info("queued action will not run; recorded it under its parent", "job_id", job.ID, "status", status,
		"org_id", a.OrgID, "config_id", a.ConfigID, "action", a.Action, "parent_id", a.ParentID, "reason", reason)
	return nil
}

// jobLike carries a scanner's location into jobs recorded for it.
func jobLike(s store.Scanner) store.Job {
	return store.Job{CloudProvider: s.CloudProvider, CloudOrganizationID: s.CloudOrganizationID, Region: s.Region}
}

// recordRemoved records a queued action whose config was removed before it
// ran: a removal has nothing left to do and succeeds, anything else fails.
func (d *Dispatcher) recordRemoved(ctx context.Context, tx *store.Tx, like store.Job, a store.PendingAction) error {
	if a.Action == store.OperationRemove {
		return d.recordUnrun(ctx, tx, like, a, store.JobSucceeded,
			fmt.Sprintf("config %s was removed before the queued removal ran; nothing was left to remove", a.ConfigID))
	}
	return d.recordUnrun(ctx, tx, like, a, store.JobFailed,
		fmt.Sprintf("config %s was removed before the queued %s ran", a.ConfigID, a.Action))
}

package workflows

import (
	"context"
	"errors"

	"github.com/scanner-ops/onboarding-service/store"
)

// Finish moves a leaf job to its terminal status and, in the same
// transaction, applies its effect on the scanner configuration and takes the
// config's queued action, which it starts once the transaction commits.
// The store changes a job's terminal status once only, so when several
// replicas finish the same job the effect is applied exactly once.
func (d *Dispatcher) Finish(ctx context.Context, job store.Job, p store.JobProgress) error {
	var next *store.Job
	var nextScanner store.Scanner

	_, changed, err := d.store.FinishJob(ctx, job.ID, p, func(tx *store.Tx) error {
		if err := applyEffect(ctx, tx, job, p); err != nil {
			return err
		}

		action, ok, err := tx.TakePendingAction(ctx, job.OrgID, job.ConfigID)
		if err != nil || !ok {
			return err
		}
		scanner, err := tx.GetScanner(ctx, job.OrgID, job.ConfigID)
		if errors.Is(err, store.ErrNotFound) {
			d.logger.Info("dropped a queued action: its config was removed", "org_id", job.OrgID,
				"config_id", job.ConfigID, "action", action.Action, "parent_id", action.ParentID, "job_id", job.ID)
			return d.recordRemoved(ctx, tx, job, action)
		}
		if err != nil {
			return err
		}

		op := Operation(action.Action)
		created, err := d.createIdleJob(ctx, tx.CreateJobIfIdle, scanner, op, action.ParentID)
		var busy *BusyError
		if errors.As(err, &busy) {
			// Another workflow started on the config meanwhile: keep the
			// action queued behind that one.
			_, _, err = tx.EnqueueAction(ctx, action)
			return err
		}
		if err != nil {
			return err
		}
		if err := tx.SetScannerState(ctx, job.OrgID, job.ConfigID, runningState(op), ""); err != nil {
			return err
		}
		next, nextScanner = &created, scanner
		return nil
	})
	if err != nil {
		return err
	}

	if changed && job.ParentID != "" {
		// A cloud organisation removal waits for its children; the next
		// pass advances it without waiting for the interval.
		d.wakeReconciler()
	}
	if changed {
		d.logger.Info("job finished", "job_id", job.ID, "org_id", job.OrgID, "config_id", job.ConfigID,
			"operation", job.Operation, "status", p.Status, "error", p.Error)
	}
	if changed && next != nil {
		d.logger.Info("dispatching queued action", "job_id", next.ID, "org_id", next.OrgID,
			"config_id", next.ConfigID, "operation", next.Operation, "parent_id", next.ParentID)
		d.submit(ctx, *next, nextScanner)
	}
	return nil
}

// applyEffect changes the scanner configuration as a finished job requires:
// a removal deletes it, a reinstall marks it installed, an uninstall marks it
// uninstalled, and a failure marks it failed with the job's error. A config
// that is already gone is left alone.
func applyEffect(ctx context.Context, tx *store.Tx, job store.Job, p store.JobProgress) error {
	var err error
	switch {
	case p.Status == store.JobFailed:
		err = tx.SetScannerState(ctx, job.OrgID, job.ConfigID, store.ScannerFailed, p.Error)
	case job.Operation == store.OperationRemove:
		err = tx.DeleteScanner(ctx, job.OrgID, job.ConfigID)
	case job.Operation == store.OperationReinstall:
		err = tx.SetScannerState(ctx, job.OrgID, job.ConfigID, store.ScannerInstalled, "")
	case job.Operation == store.OperationUninstall:
		err = tx.SetScannerState(ctx, job.OrgID, job.ConfigID, store.ScannerUninstalled, "")
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

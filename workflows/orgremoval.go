package workflows

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/scanner-ops/onboarding-service/store"
)

// Steps of a cloud organisation removal job, which the service runs itself:
// it removes every scanner through child removal jobs, then deletes the
// cloud organisation and its credentials.
const (
	StepRemovingScanners    = "removing-scanners"
	StepDeletingCredentials = "deleting-credentials"
)

// EngineService is the engine name recorded on jobs the service runs itself.
const EngineService = "service"

// maxFailedChildrenNamed bounds the children listed in a failed cloud
// organisation removal's error.
const maxFailedChildrenNamed = 10

// StartOrgRemoval creates the removal job of one cloud organisation and
// dispatches the removal of each of its scanners, queued behind any running
// workflow. parentID groups the job under a cloud provider removal. Errors:
// store.ErrNotFound for an unknown cloud organisation, *ProviderMismatchError,
// *BusyError when a removal of it is already running, and the lock errors.
func (d *Dispatcher) StartOrgRemoval(ctx context.Context, orgID, cloudOrgID, provider, parentID string) (store.Job, error) {
	var job store.Job

	lockCtx, cancel := context.WithTimeout(ctx, d.lockWait)
	defer cancel()
	err := WithLock(lockCtx, d.locker, cloudOrgLockKey(orgID, cloudOrgID), d.lockTTL, func(ctx context.Context) error {
		org, err := d.store.GetCloudOrganization(ctx, orgID, cloudOrgID)
		if err != nil {
			return err
		}
		if err := CheckProvider("cloud organization", cloudOrgID, org.CloudProvider, provider); err != nil {
			return err
		}
		active, found, err := d.store.ActiveOrgRemoval(ctx, orgID, cloudOrgID)
		if err != nil {
			return err
		}
		if found {
			return &BusyError{ConfigID: cloudOrgID, Active: active}
		}

		now := d.now()
		job = store.Job{
			Operation:           store.OperationRemoveOrg,
			OrgID:               orgID,
			ParentID:            parentID,
			CloudProvider:       org.CloudProvider,
			CloudOrganizationID: cloudOrgID,
			Status:              store.JobRunning,
			CurrentStep:         StepRemovingScanners,
			Engine:              EngineService,
			Submitted:           true,
			CreatedAt:           now,
			UpdatedAt:           now,
		}
		job.ID, err = insertWithUniqueID(
			func(suffix int) string { return RemoveOrgJobID(cloudOrgID, now, suffix) },
			func(id string) error {
				job.ID = id
				return d.store.CreateJob(ctx, job)
			})
		if err != nil {
			return fmt.Errorf("creating the removal job of cloud organization %s: %w", cloudOrgID, err)
		}
		return d.store.CreateParentOperation(ctx, store.ParentOperation{ID: job.ID, OrgID: orgID, Kind: string(store.OperationRemoveOrg), CreatedAt: now})
	}, LockOptions{OnReleaseError: d.logReleaseError})
	if err != nil {
		return store.Job{}, err
	}

	d.logger.Info("cloud organisation removal started", "job_id", job.ID, "org_id", orgID,
		"cloud_organization_id", cloudOrgID, "parent_id", parentID)
	if err := d.AdvanceOrgRemoval(ctx, job); err != nil {
		// The reconciler advances the job again on its next pass.
		d.logger.Error("dispatching scanner removals failed; the reconciler will retry", "job_id", job.ID,
			"org_id", orgID, "cloud_organization_id", cloudOrgID, "error", err)
	}
	return job, nil
}

// AdvanceOrgRemoval moves a cloud organisation removal job forward. It
// dispatches the removal of every scanner that has no child job yet. Once
// every child has finished, it deletes the cloud organisation when all of
// them succeeded, and otherwise fails the job naming the failed children,
// so the credentials stay.
func (d *Dispatcher) AdvanceOrgRemoval(ctx context.Context, job store.Job) error {
	// Replicas advancing the same removal at once would both see a scanner
	// without a child and queue a second removal behind the first.
	var children []store.Job
	var waiting int
	lockCtx, cancel := context.WithTimeout(ctx, d.lockWait)
	defer cancel()
	err := WithLock(lockCtx, d.locker, cloudOrgLockKey(job.OrgID, job.CloudOrganizationID), d.lockTTL, func(ctx context.Context) error {
		var err error
		children, waiting, err = d.dispatchOrgScanners(ctx, job)
		return err
	}, LockOptions{OnReleaseError: d.logReleaseError})
	if err != nil || waiting > 0 {
		return err
	}

	var failed []string
	for _, c := range children {
		if !c.Status.Terminal() {
			return nil
		}
		if c.Status == store.JobFailed {
			failed = append(failed, c.ConfigID+" ("+c.ID+")")
		}
	}
	queued, err := d.store.CountPendingByParent(ctx, job.OrgID, job.ID)
	if err != nil || queued > 0 {
		return err
	}

	if len(failed) > 0 {
		return d.finishOrgRemoval(ctx, job, store.JobProgress{
			Status:      store.JobFailed,
			CurrentStep: StepRemovingScanners,
			Error:       failedChildrenMessage(failed),
		})
	}
	return d.finishOrgRemoval(ctx, job, store.JobProgress{Status: store.JobSucceeded, CurrentStep: StepDeletingCredentials})
}

// dispatchOrgScanners requests the removal of every scanner of the removal
// job's cloud organisation that has no child job yet. It returns the
// children and how many scanners were still without one.
func (d *Dispatcher) dispatchOrgScanners(ctx context.Context, job store.Job) ([]store.Job, int, error) {
	scanners, err := d.store.ListScanners(ctx, job.OrgID, store.ScannerFilter{CloudOrganizationID: job.CloudOrganizationID})
	if err != nil {
		return nil, 0, err
	}
	children, err := d.store.ListJobsByParent(ctx, job.OrgID, job.ID)
	if err != nil {
		return nil, 0, err
	}

	hasChild := make(map[string]bool, len(children))
	for _, c := range children {
		hasChild[c.ConfigID] = true
	}
	waiting := 0
	for _, s := range scanners {
		if hasChild[s.ConfigID] {
			continue
		}
		waiting++
		_, err := d.Request(ctx, Request{
			OrgID:         job.OrgID,
			ConfigID:      s.ConfigID,
			Operation:     OperationRemove,
			ParentID:      job.ID,
			QueueWhenBusy: true,
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			d.logger.Error("dispatching a scanner removal failed", "job_id", job.ID, "org_id", job.OrgID,
				"config_id", s.ConfigID, "error", err)
		}
	}
	return children, waiting, nil
}

// finishOrgRemoval ends a cloud organisation removal job; on success it
// deletes the cloud organisation in the same transaction. A scanner added
// since the last look makes the deletion fail with store.ErrConflict, and the
// job stays running so the next pass removes that scanner too.
func (d *Dispatcher) finishOrgRemoval(ctx context.Context, job store.Job, p store.JobProgress) error {
	_, changed, err := d.store.FinishJob(ctx, job.ID, p, func(tx *store.Tx) error {
		if p.Status != store.JobSucceeded {
			return nil
		}
		err := tx.DeleteCloudOrganization(ctx, job.OrgID, job.CloudOrganizationID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	if changed {
		d.logger.Info("cloud organisation removal finished", "job_id", job.ID, "org_id", job.OrgID,
			"cloud_organization_id", job.CloudOrganizationID, "status", p.Status, "error", p.Error)
	}
	return nil
}

func failedChildrenMessage(failed []string) string {
	sort.Strings(failed)
	named := failed
	if len(named) > maxFailedChildrenNamed {
		named = named[:maxFailedChildrenNamed]
	}
	msg := fmt.Sprintf("%d scanner removal(s) failed, credentials kept: %s", len(failed), strings.Join(named, ", "))
	if len(failed) > len(named) {
		msg += fmt.Sprintf(" and %d more", len(failed)-len(named))
	}
	return msg
}

func cloudOrgLockKey(orgID, cloudOrgID string) string {
	return "cloud-org:" + orgID + "/" + cloudOrgID
}

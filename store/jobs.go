package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// CreateJob inserts a job. A zero Status becomes JobPending and a zero
// CreatedAt the current time. A job id that exists, in any organisation,
// fails with ErrAlreadyExists.
func (q queries) CreateJob(ctx context.Context, job Job) error {
	row, err := newJobRow(job)
	if err != nil {
		return err
	}
	// A savepoint inside a transaction, so that a duplicate id, which
	// callers handle by trying another, does not abort the transaction.
	err = q.atomic(ctx, func(q queries) error { return q.with(ctx).Create(&row).Error })
	if isDuplicateKey(err) {
		return fmt.Errorf("creating job %s: %w", job.ID, ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("creating job %s: %w", job.ID, err)
	}
	return nil
}

func newJobRow(job Job) (jobRow, error) {
	if job.ID == "" || job.OrgID == "" {
		return jobRow{}, fmt.Errorf("creating job %q of org %q: the job id and org id are required", job.ID, job.OrgID)
	}
	if !job.Operation.Valid() {
		return jobRow{}, fmt.Errorf("creating job %s: invalid operation %q", job.ID, job.Operation)
	}
	if job.Status == "" {
		job.Status = JobPending
	}
	if !job.Status.Valid() {
		return jobRow{}, fmt.Errorf("creating job %s: invalid status %q", job.ID, job.Status)
	}

	if job.CreatedAt.IsZero() {
		job.CreatedAt = now()
	}
	job.CreatedAt = dbTime(job.CreatedAt)
	job.UpdatedAt = job.CreatedAt
	return jobToRow(job), nil
}

// CreateJobIfIdle inserts job when its scanner configuration (job.OrgID,
// job.ConfigID) has no active job, and then returns the zero Job. Otherwise
// it inserts nothing and returns the active job with ErrConflict. The check
// and the insert share one transaction that holds the configuration's
// advisory lock on PostgreSQL, so concurrent callers in any process insert
// at most one job.
func (q queries) CreateJobIfIdle(ctx context.Context, job Job) (Job, error) {
	if job.ConfigID == "" {
		return Job{}, fmt.Errorf("creating job %s: the config id is required", job.ID)
	}

	var active Job
	err := q.atomic(ctx, func(q queries) error {
		if err := q.lockConfig(ctx, job.OrgID, job.ConfigID); err != nil {
			return err
		}
		current, found, err := q.ActiveJobForConfig(ctx, job.OrgID, job.ConfigID)
		if err != nil {
			return err
		}
		if found {
			active = current
			return fmt.Errorf("creating job %s: scanner %s/%s has active job %s: %w",
				job.ID, job.OrgID, job.ConfigID, current.ID, ErrConflict)
		}
		return q.CreateJob(ctx, job)
	})
	if err != nil {
		return active, err
	}
	return Job{}, nil
}

// GetJob returns job id of orgID. A job of another organisation is
// ErrNotFound.
func (q queries) GetJob(ctx context.Context, orgID, id string) (Job, error) {
	var row jobRow
	err := q.with(ctx).Where("org_id = ? AND id = ?", orgID, id).Take(&row).Error
	if err != nil {
		return Job{}, jobReadError(id, err)
	}
	return jobFromRow(row), nil
}

func jobReadError(id string, err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		err = ErrNotFound
	}
	return fmt.Errorf("reading job %s: %w", id, err)
}

// ActiveJobForConfig returns the newest pending or running job of a scanner
// configuration; found is false when there is none.
func (q queries) ActiveJobForConfig(ctx context.Context, orgID, configID string) (job Job, found bool, err error) {
	var rows []jobRow
	err = q.with(ctx).
		Where("org_id = ? AND config_id = ? AND status IN ?", orgID, configID, activeStatuses).
		Order("created_at DESC, id DESC").Limit(1).
		Find(&rows).Error
	if err != nil {
		return Job{}, false, fmt.Errorf("reading active job of scanner %s/%s: %w", orgID, configID, err)
	}
	if len(rows) == 0 {
		return Job{}, false, nil
	}
	return jobFromRow(rows[0]), true, nil
}

// ListJobsByParent returns the child jobs of a parent id, oldest first.
func (q queries) ListJobsByParent(ctx context.Context, orgID, parentID string) ([]Job, error) {
	if parentID == "" {
		return nil, errors.New("listing jobs by parent: the parent id is empty")
	}

	var rows []jobRow
	err := q.with(ctx).Where("org_id = ? AND parent_id = ?", orgID, parentID).
		Order("created_at, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("listing jobs of parent %s: %w", parentID, err)
	}
	return jobsFromRows(rows), nil
}

// ListJobsByConfig returns the jobs of one scanner configuration, newest
// first, at most limit of them (0 means all), with counts over all of them.
// The list and the counts come from one query, so they always agree: a job
// finishing meanwhile cannot be counted as done but listed as running.
func (q queries) ListJobsByConfig(ctx context.Context, orgID, configID string, limit int) ([]Job, JobCounts, error) {
	var rows []jobRow
	err := q.with(ctx).Where("org_id = ? AND config_id = ?", orgID, configID).
		Order("created_at DESC, id DESC").Find(&rows).Error
	if err != nil {
		return nil, JobCounts{}, fmt.Errorf("listing jobs of scanner %s/%s: %w", orgID, configID, err)
	}

	jobs := jobsFromRows(rows)
	counts := CountJobs(jobs)
	if limit > 0 && len(jobs) > limit {
		jobs = jobs[:limit]
	}
	return jobs, counts, nil
}

// ListUnfinishedJobs returns the pending and running jobs of every
// organisation, oldest first, at most limit of them (0 means all). The
// reconciler follows these.
func (q queries) ListUnfinishedJobs(ctx context.Context, limit int) ([]Job, error) {
	query := q.with(ctx).Where("status IN ?", activeStatuses).Order("created_at, id")
	if limit > 0 {
		query = query.Limit(limit)
	}
	var rows []jobRow
	if err := query.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing unfinished jobs: %w", err)
	}
	return jobsFromRows(rows), nil
}

// MarkJobSubmitted records that the engine accepted the job's workflow.
// Marking a submitted job again is a no-op.
func (q queries) MarkJobSubmitted(ctx context.Context, id string) error {
	result := q.with(ctx).Model(&jobRow{}).Where("id = ? AND submitted = ?", id, false).
		Updates(map[string]any{"submitted": true, "updated_at": now()})
	if result.Error != nil {
		return fmt.Errorf("marking job %s submitted: %w", id, result.Error)
	}
	if result.RowsAffected > 0 {
		return nil
	}

	var exists int64
	if err := q.with(ctx).Model(&jobRow{}).Where("id = ?", id).Count(&exists).Error; err != nil {
		return fmt.Errorf("marking job %s submitted: %w", id, err)
	}
	if exists == 0 {
		return fmt.Errorf("marking job %s submitted: %w", id, ErrNotFound)
	}
	return nil
}

// UpdateJobProgress copies engine-reported progress into job id and returns
// the job as stored afterwards. The UPDATE only matches an active job whose
// fields differ from p, so updated_at moves only on a real change, and a
// terminal job is never changed again: then changed is false and err nil.
// Use FinishJob to move a job to a terminal status together with its effect.
func (q queries) UpdateJobProgress(ctx context.Context, id string, p JobProgress) (Job, bool, error) {
	if !p.Status.Valid() {
		return Job{}, false, fmt.Errorf("updating job %s: invalid status %q", id, p.Status)
	}

	result := q.with(ctx).Model(&jobRow{}).
		Where("id = ? AND status NOT IN ?", id, terminalStatuses).
		Where("(status <> ? OR current_step <> ? OR retry_attempt <> ? OR error <> ?)",
			string(p.Status), p.CurrentStep, p.RetryAttempt, p.Error).
		Updates(map[string]any{
			"status":        string(p.Status),
			"current_step":  p.CurrentStep,
			"retry_attempt": p.RetryAttempt,
			"error":         p.Error,
			"updated_at":    now(),
		})
	if result.Error != nil {
		return Job{}, false, fmt.Errorf("updating job %s: %w", id, result.Error)
	}

	var row jobRow
	if err := q.with(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return Job{}, false, jobReadError(id, err)
	}
	return jobFromRow(row), result.RowsAffected > 0, nil
}

// FinishJob moves job id to the terminal status in p and, only when this
// call made that change, runs effect in the same transaction. Of several
// callers finishing one job (replicas of the reconciler) exactly one runs the
// effect: on PostgreSQL the others wait on the job's row lock and then find
// the job terminal. An error from effect rolls everything back and is
// returned, and the job stays active for a later retry. effect may be nil. It
// must use only its Tx, see Tx.
func (q queries) FinishJob(ctx context.Context, id string, p JobProgress, effect func(tx *Tx) error) (Job, bool, error) {
	if !p.Status.Terminal() {
		return Job{}, false, fmt.Errorf("finishing job %s: status %q is not terminal", id, p.Status)
	}

	var job Job
	var changed bool
	err := q.atomic(ctx, func(q queries) error {
		var err error
		job, changed, err = q.UpdateJobProgress(ctx, id, p)
		if err != nil || !changed || effect == nil {
			return err
		}
		if err := effect(&Tx{queries: q}); err != nil {
			return fmt.Errorf("applying the effect of job %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return Job{}, false, err
	}
	return job, changed, nil
}

package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/scanner-ops/onboarding-service/gen/api"
	"github.com/scanner-ops/onboarding-service/store"
)

// GetJob returns one job of the token's organisation.
func (h *handlers) GetJob(ctx context.Context, request api.GetJobRequestObject) (api.GetJobResponseObject, error) {
	addLogAttrs(ctx, slog.String("job_id", request.JobID))

	job, err := h.deps.Store.GetJob(ctx, orgIDFromContext(ctx), request.JobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(msgJobNotFound)
	}
	if err != nil {
		return nil, err
	}

	resp := api.GetJob200JSONResponse{Body: toAPIJob(job)}
	if !job.Status.Terminal() {
		resp.Headers.RetryAfter = ptr(retryAfterSeconds)
	}
	return resp, nil
}

// ListJobs lists the children of a parent id or the jobs of a config.
func (h *handlers) ListJobs(ctx context.Context, request api.ListJobsRequestObject) (api.ListJobsResponseObject, error) {
	p := request.Params
	orgID := orgIDFromContext(ctx)
	switch {
	case p.ParentID != nil && p.ConfigID != nil:
		return nil, badRequest("use either parent-id or config-id, not both")
	case p.ParentID != nil:
		return h.listJobsByParent(ctx, orgID, *p.ParentID)
	case p.ConfigID != nil:
		limit := defaultPageSize
		if p.Limit != nil {
			limit = *p.Limit
		}
		return h.listJobsByConfig(ctx, orgID, *p.ConfigID, limit)
	default:
		return nil, badRequest("parent-id or config-id is required")
	}
}

func (h *handlers) listJobsByParent(ctx context.Context, orgID, parentID string) (api.ListJobsResponseObject, error) {
	addLogAttrs(ctx, slog.String("parent_id", parentID))

	known, err := h.deps.Store.ParentOperationExists(ctx, orgID, parentID)
	if err != nil {
		return nil, err
	}
	if !known {
		return nil, notFound(msgJobNotFound)
	}

	// Read what finishes last first: the parent job itself (a cloud
	// organisation removal finishes after its children), then the queued
	// actions (one becomes a child job when it is dispatched), then the
	// children. Work that moves on between the reads is then counted twice
	// rather than not at all, so running never drops to 0 early.
	parentRunning := 0
	if parent, err := h.deps.Store.GetJob(ctx, orgID, parentID); err == nil && !parent.Status.Terminal() {
		parentRunning = 1
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	queued, err := h.deps.Store.CountPendingByParent(ctx, orgID, parentID)
	if err != nil {
		return nil, err
	}
	jobs, err := h.deps.Store.ListJobsByParent(ctx, orgID, parentID)
	if err != nil {
		return nil, err
	}

	summary := summarize(store.CountJobs(jobs), queued)
	summary.Running += parentRunning
	resp := api.ListJobs200JSONResponse{Body: api.JobList{
		ParentID: &parentID,
		Summary:  summary,
		Jobs:     toAPIJobs(jobs),
	}}
	if resp.Body.Summary.Running > 0 {
		resp.Headers.RetryAfter = ptr(retryAfterSeconds)
	}
	return resp, nil
}

func (h *handlers) listJobsByConfig(ctx context.Context, orgID, configID string, limit int) (api.ListJobsResponseObject, error) {
	addLogAttrs(ctx, slog.String("config_id", configID))

	// Queued action first, then the jobs: see listJobsByParent.
	queued, err := h.deps.Store.CountPendingForConfig(ctx, orgID, configID)
	if err != nil {
		return nil, err
	}
	jobs, counts, err := h.deps.Store.ListJobsByConfig(ctx, orgID, configID, limit)
	if err != nil {
		return nil, err
	}
	if counts.Total == 0 && queued == 0 {
		// A config without jobs is either unknown or has never been
		// operated on. Telling the two apart keeps a typo from returning a
		// silent empty list.
		if _, err := h.deps.Store.GetScanner(ctx, orgID, configID); err != nil {
			return nil, mapScannerError(err, configID)
		}
	}

	resp := api.ListJobs200JSONResponse{Body: api.JobList{
		ConfigID: &configID,
		Summary:  summarize(counts, queued),
		Jobs:     toAPIJobs(jobs),
	}}
	if resp.Body.Summary.Running > 0 {
		resp.Headers.RetryAfter = ptr(retryAfterSeconds)
	}
	return resp, nil
}

// summarize builds a listing's summary: running counts pending and running
// jobs plus queued actions, so a client may stop polling when it is 0.
func summarize(c store.JobCounts, queued int) api.JobSummary {
	return api.JobSummary{
		Total:     c.Total,
		Running:   c.Pending + c.Running + queued,
		Completed: c.Succeeded,
		Failed:    c.Failed,
		Pending:   ptr(c.Pending),
		Queued:    ptr(queued),
	}
}

func toAPIJobs(jobs []store.Job) []api.JobStatus {
	out := make([]api.JobStatus, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, toAPIJob(j))
	}
	return out
}

func toAPIJob(j store.Job) api.JobStatus {
	op := api.Operation(j.Operation)
	out := api.JobStatus{
		WorkflowName:  j.ID,
		Status:        api.JobState(j.Status),
		Operation:     &op,
		OrgID:         j.OrgID,
		CloudProvider: j.CloudProvider,
		CurrentStep:   j.CurrentStep,
		RetryAttempt:  j.RetryAttempt,
		CreatedAt:     j.CreatedAt.UTC(),
		UpdatedAt:     j.UpdatedAt.UTC(),
		ConfigID:      optional(j.ConfigID),
		Region:        optional(j.Region),
		ParentID:      optional(j.ParentID),
	}
	out.CloudOrganizationID = optional(j.CloudOrganizationID)
	if j.Status == store.JobFailed {
		msg := j.Error
		if msg == "" {
			msg = "failed without a message"
		}
		out.Error = &msg
	}
	return out
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func ptr[T any](v T) *T {
	return &v
}

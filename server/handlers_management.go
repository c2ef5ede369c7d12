package server

import (
	"context"
	"log/slog"
	"net/url"

	"github.com/scanner-ops/onboarding-service/gen/api"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// retryAfterSeconds is the polling interval, in seconds, recommended to
// clients of asynchronous operations and unfinished jobs.
const retryAfterSeconds = 30

// PauseScanner pauses a scanner's workers; pausing a paused one is a no-op.
func (h *handlers) PauseScanner(ctx context.Context, request api.PauseScannerRequestObject) (api.PauseScannerResponseObject, error) {
	resp, err := h.setWorkersPaused(ctx, request.OrgID, request.Params.ConfigID, true)
	if err != nil {
		return nil, err
	}
	return api.PauseScanner200JSONResponse(resp), nil
}

// UnpauseScanner resumes a scanner's workers; unpausing a running one is a no-op.
func (h *handlers) UnpauseScanner(ctx context.Context, request api.UnpauseScannerRequestObject) (api.UnpauseScannerResponseObject, error) {
	resp, err := h.setWorkersPaused(ctx, request.OrgID, request.Params.ConfigID, false)
	if err != nil {
		return nil, err
	}
	return api.UnpauseScanner200JSONResponse(resp), nil
}

func (h *handlers) setWorkersPaused(ctx context.Context, orgID, configID string, paused bool) (api.WorkersResponse, error) {
	addLogAttrs(ctx, slog.String("config_id", configID))

	scanner, changed, err := h.deps.Store.SetWorkersPaused(ctx, orgID, configID, paused)
	if err != nil {
		return api.WorkersResponse{}, mapScannerError(err, configID)
	}
	return api.WorkersResponse{
		Message:       workersMessage(paused, changed),
		ConfigID:      configID,
		WorkersPaused: scanner.WorkersPaused,
	}, nil
}

func workersMessage(paused, changed bool) api.WorkersResponseMessage {
	switch {
	case paused && changed:
		return api.WorkersPausedSuccessfully
	case paused:
		return api.WorkersAlreadyPaused
	case changed:
		return api.WorkersUnpausedSuccessfully
	default:
		return api.WorkersAlreadyUnpaused
	}
}

// ReinstallScanner starts or queues a reinstall; the body is empty.
func (h *handlers) ReinstallScanner(ctx context.Context, request api.ReinstallScannerRequestObject) (api.ReinstallScannerResponseObject, error) {
	headers, err := h.manage(ctx, request.OrgID, request.Params.ConfigID, workflows.OperationReinstall, "")
	if err != nil {
		return nil, err
	}
	return api.ReinstallScanner200Response{Headers: headers}, nil
}

// UninstallScanner starts or queues an uninstall; the body is empty.
func (h *handlers) UninstallScanner(ctx context.Context, request api.UninstallScannerRequestObject) (api.UninstallScannerResponseObject, error) {
	headers, err := h.manage(ctx, request.OrgID, request.Params.ConfigID, workflows.OperationUninstall, "")
	if err != nil {
		return nil, err
	}
	return api.UninstallScanner200Response{Headers: headers}, nil
}

// manage sends a reinstall or uninstall through the dispatcher, queued when
// the config is busy.
func (h *handlers) manage(ctx context.Context, orgID, configID string, op workflows.Operation, parentID string) (api.ManagementAcceptedResponseHeaders, error) {
	addLogAttrs(ctx, slog.String("config_id", configID))

	out, err := h.deps.Dispatcher.Request(ctx, workflows.Request{
		OrgID:         orgID,
		ConfigID:      configID,
		Operation:     op,
		ParentID:      parentID,
		QueueWhenBusy: true,
	})
	if err != nil {
		return api.ManagementAcceptedResponseHeaders{}, mapDispatchError(err, configID)
	}
	if out.Queued {
		addLogAttrs(ctx, slog.Bool("queued", true), slog.Bool("coalesced", out.Coalesced))
	} else {
		addLogAttrs(ctx, slog.String("job_id", out.Job.ID))
	}
	return api.ManagementAcceptedResponseHeaders{
		Location:   configJobsURL(configID),
		RetryAfter: retryAfterSeconds,
	}, nil
}

func jobURL(jobID string) string {
	return "/api/v1/jobs/" + url.PathEscape(jobID)
}

func parentJobsURL(parentID string) string {
	return "/api/v1/jobs?parent-id=" + url.QueryEscape(parentID)
}

func configJobsURL(configID string) string {
	return "/api/v1/jobs?config-id=" + url.QueryEscape(configID)
}

package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/scanner-ops/onboarding-service/gen/api"
	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// batchParallelism bounds the items of one batch processed at once.
const batchParallelism = 10

// batchItem is one distinct (configID, cloudProvider) pair of a batch with
// the positions where the request names it. A pair named twice is processed
// once and reported at each position.
type batchItem struct {
	configID  string
	provider  string
	positions []int
}

// distinctItems groups the request's items by (configID, cloudProvider),
// keeping the order of first appearance.
func distinctItems(scanners []api.BatchScannerItem) []*batchItem {
	byKey := make(map[string]*batchItem, len(scanners))
	items := make([]*batchItem, 0, len(scanners))
	for i, s := range scanners {
		key := s.ConfigID + "\x00" + s.CloudProvider
		if it, ok := byKey[key]; ok {
			it.positions = append(it.positions, i)
			continue
		}
		it := &batchItem{configID: s.ConfigID, provider: s.CloudProvider, positions: []int{i}}
		byKey[key] = it
		items = append(items, it)
	}
	return items
}

// validateItem checks the values of one batch item, which the spec leaves
// loose so that one bad item does not fail the whole batch.
func validateItem(it *batchItem) error {
	if !store.ValidConfigID(it.configID) {
		return badRequest("configID must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' or '-' (got %q)", truncate(it.configID))
	}
	if !store.ValidCloudProvider(it.provider) {
		return badRequest("cloudProvider must be one of %s (got %q)", strings.Join(store.CloudProviders, ", "), truncate(it.provider))
	}
	return nil
}

// forEachItem validates every distinct item and runs fn on it,
// batchParallelism at a time. The validation error or fn's error is logged
// and handed to report with fn's result. Every item is processed even when
// others fail.
func forEachItem[R any](ctx context.Context, log *slog.Logger, items []*batchItem, fn func(ctx context.Context, it *batchItem) (R, error), report func(it *batchItem, r R, err error)) {
	var g errgroup.Group
	g.SetLimit(batchParallelism)
	for _, it := range items {
		g.Go(func() error {
			var r R
			err := validateItem(it)
			if err == nil {
				r, err = fn(ctx, it)
			}
			if err != nil {
				log.Log(ctx, levelOf(err), "batch item failed", "config_id", truncate(it.configID),
					"cloud_provider", truncate(it.provider), "error", err)
			}
			report(it, r, err)
			return nil
		})
	}
	_ = g.Wait() // the functions never return an error
}

// BatchPauseScanners pauses the workers of every scanner in the batch.
func (h *handlers) BatchPauseScanners(ctx context.Context, request api.BatchPauseScannersRequestObject) (api.BatchPauseScannersResponseObject, error) {
	results := h.batchSetWorkersPaused(ctx, request.OrgID, request.Body.Scanners, true)
	return api.BatchPauseScanners200JSONResponse{BatchPauseResultJSONResponse: api.BatchPauseResultJSONResponse{Results: results}}, nil
}

// BatchUnpauseScanners resumes the workers of every scanner in the batch.
func (h *handlers) BatchUnpauseScanners(ctx context.Context, request api.BatchUnpauseScannersRequestObject) (api.BatchUnpauseScannersResponseObject, error) {
	results := h.batchSetWorkersPaused(ctx, request.OrgID, request.Body.Scanners, false)
	return api.BatchUnpauseScanners200JSONResponse{BatchPauseResultJSONResponse: api.BatchPauseResultJSONResponse{Results: results}}, nil
}

func (h *handlers) batchSetWorkersPaused(ctx context.Context, orgID string, scanners []api.BatchScannerItem, paused bool) []api.BatchPauseItemResult {
	results := make([]api.BatchPauseItemResult, len(scanners))
	forEachItem(ctx, h.logger(ctx), distinctItems(scanners),
		func(ctx context.Context, it *batchItem) (bool, error) {
			if _, err := h.scannerOfProvider(ctx, orgID, it.configID, it.provider); err != nil {
				return false, err
			}
			s, _, err := h.deps.Store.SetWorkersPaused(ctx, orgID, it.configID, paused)
			if err != nil {
				return false, mapScannerError(err, it.configID)
			}
			return s.WorkersPaused, nil
		},
		func(it *batchItem, workersPaused bool, err error) {
			r := api.BatchPauseItemResult{ConfigID: it.configID, CloudProvider: it.provider, Success: err == nil}
			if err != nil {
				msg := itemError(err)
				r.Error = &msg
			} else {
				r.WorkersPaused = &workersPaused
			}
			for _, pos := range it.positions {
				results[pos] = r
			}
		})
	return results
}

// BatchRemoveScanners starts one removal workflow per scanner under a new
// parent id; busy configs get an item error.
func (h *handlers) BatchRemoveScanners(ctx context.Context, request api.BatchRemoveScannersRequestObject) (api.BatchRemoveScannersResponseObject, error) {
	parentID, err := h.newParent(ctx, request.OrgID, workflows.OperationRemove)
	if err != nil {
		return nil, err
	}
	results := h.batchDispatch(ctx, request.OrgID, request.Body.Scanners, func(ctx context.Context, it *batchItem) (string, error) {
		out, err := h.deps.Dispatcher.Request(ctx, workflows.Request{
			OrgID:         request.OrgID,
			ConfigID:      it.configID,
			Operation:     workflows.OperationRemove,
			ParentID:      parentID,
			CloudProvider: it.provider,
		})
		if err != nil {
			return "", mapDispatchError(err, it.configID)
		}
		return out.Job.ID, nil
	})
	return api.BatchRemoveScanners202JSONResponse{BatchJobAcceptedJSONResponse: batchAccepted(parentID, results)}, nil
}

// BatchReinstallScanners sends every scanner through the management
// reinstall path under a new parent id; busy configs are queued.
func (h *handlers) BatchReinstallScanners(ctx context.Context, request api.BatchReinstallScannersRequestObject) (api.BatchReinstallScannersResponseObject, error) {
	parentID, err := h.newParent(ctx, request.OrgID, workflows.OperationReinstall)
	if err != nil {
		return nil, err
	}
	results := h.batchDispatch(ctx, request.OrgID, request.Body.Scanners, func(ctx context.Context, it *batchItem) (string, error) {
		_, err := h.deps.Dispatcher.Request(ctx, workflows.Request{
			OrgID:         request.OrgID,
			ConfigID:      it.configID,
			Operation:     workflows.OperationReinstall,
			ParentID:      parentID,
			CloudProvider: it.provider,
			QueueWhenBusy: true,
		})
		if err != nil {
			return "", mapDispatchError(err, it.configID)
		}
		// Reinstall results carry no workflow name: the job may be queued.
		return "", nil
	})
	return api.BatchReinstallScanners202JSONResponse{BatchJobAcceptedJSONResponse: batchAccepted(parentID, results)}, nil
}

// newParent records a batch correlation id for the organisation, after
// checking that the lock service is reachable. Without it every item would
// fail, and the client would be left polling a parent with nothing in it.
func (h *handlers) newParent(ctx context.Context, orgID string, op workflows.Operation) (string, error) {
	if err := h.requireLocks(ctx); err != nil {
		return "", err
	}
	parentID := workflows.BatchParentID(op)
	addLogAttrs(ctx, slog.String("parent_id", parentID))
	err := h.deps.Store.CreateParentOperation(ctx, store.ParentOperation{
		ID:        parentID,
		OrgID:     orgID,
		Kind:      "batch-" + string(op),
		CreatedAt: h.now(),
	})
	if err != nil {
		return "", fmt.Errorf("recording batch %s: %w", parentID, err)
	}
	return parentID, nil
}

// batchDispatch runs dispatch on every item and returns, in request order,
// whether each was accepted. dispatch returns the child workflow's name, or
// "" when the response must not carry one.
func (h *handlers) batchDispatch(ctx context.Context, orgID string, scanners []api.BatchScannerItem,
	dispatch func(ctx context.Context, it *batchItem) (string, error)) []api.BatchDispatchResult {
	results := make([]api.BatchDispatchResult, len(scanners))
	forEachItem(ctx, h.logger(ctx), distinctItems(scanners), dispatch, func(it *batchItem, workflowName string, err error) {
		r := api.BatchDispatchResult{
			ConfigID:      it.configID,
			CloudProvider: it.provider,
			Success:       err == nil,
			Status:        api.BatchDispatchResultStatusDispatched,
		}
		if err != nil {
			msg := itemError(err)
			r.Status, r.Error = api.BatchDispatchResultStatusError, &msg
		} else if workflowName != "" {
			r.WorkflowName = &workflowName
		}
		for _, pos := range it.positions {
			results[pos] = r
		}
	})
	return results
}

func batchAccepted(parentID string, results []api.BatchDispatchResult) api.BatchJobAcceptedJSONResponse {
	statusURL := parentJobsURL(parentID)
	return api.BatchJobAcceptedJSONResponse{
		Body: api.BatchJobResponse{
			JobID:     parentID,
			StatusURL: statusURL,
			JobInfo:   api.BatchJobInfo{Results: results},
		},
		Headers: api.BatchJobAcceptedResponseHeaders{Location: statusURL, RetryAfter: retryAfterSeconds},
	}
}

// truncate shortens a client-supplied value before it goes into a message
// or a log line.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// lockCheckTimeout bounds the check of the lock service before a batch.
const lockCheckTimeout = 2 * time.Second

// requireLocks returns a 503 error when the lock service cannot be reached.
func (h *handlers) requireLocks(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, lockCheckTimeout)
	defer cancel()
	if err := h.deps.Locker.Ping(ctx); err != nil {
		return unavailable("lock service unavailable; retry later", err)
	}
	return nil
}

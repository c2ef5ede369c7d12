package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/scanner-ops/onboarding-service/gen/api"
	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// defaultPageSize is the page length of listings whose limit is not given.
const defaultPageSize = 100

// RemoveScanner starts the removal workflow of one scanner; a busy config is 409.
func (h *handlers) RemoveScanner(ctx context.Context, request api.RemoveScannerRequestObject) (api.RemoveScannerResponseObject, error) {
	body := request.Body
	addLogAttrs(ctx, slog.String("config_id", body.ConfigID))

	out, err := h.deps.Dispatcher.Request(ctx, workflows.Request{
		OrgID:         request.OrgID,
		ConfigID:      body.ConfigID,
		Operation:     workflows.OperationRemove,
		CloudProvider: string(body.CloudProvider),
	})
	if err != nil {
		return nil, mapDispatchError(err, body.ConfigID)
	}
	addLogAttrs(ctx, slog.String("job_id", out.Job.ID))
	return api.RemoveScanner202JSONResponse{AsyncJobAcceptedJSONResponse: asyncAccepted(out.Job.ID, jobURL(out.Job.ID))}, nil
}

func asyncAccepted(jobID, statusURL string) api.AsyncJobAcceptedJSONResponse {
	return api.AsyncJobAcceptedJSONResponse{
		Body: api.AsyncJobResponse{
			JobID:     jobID,
			StatusURL: statusURL,
			JobInfo:   &api.JobInfo{},
		},
		Headers: api.AsyncJobAcceptedResponseHeaders{Location: statusURL, RetryAfter: retryAfterSeconds},
	}
}

// DisableRegion removes the scanner's region from its cloud organisation's
// enabled regions.
func (h *handlers) DisableRegion(ctx context.Context, request api.DisableRegionRequestObject) (api.DisableRegionResponseObject, error) {
	body := request.Body
	addLogAttrs(ctx, slog.String("config_id", body.ConfigID))

	if _, err := h.scannerOfProvider(ctx, request.OrgID, body.ConfigID, string(body.CloudProvider)); err != nil {
		return nil, err
	}
	change, err := h.deps.Store.DisableRegion(ctx, request.OrgID, body.ConfigID)
	if err != nil {
		return nil, mapScannerError(err, body.ConfigID)
	}

	msg := api.RegionAlreadyDisabled
	if change.Changed {
		msg = api.RegionDisabledSuccessfully
	}
	return api.DisableRegion200JSONResponse{
		Message:             msg,
		Region:              change.Region,
		CloudOrganizationID: change.CloudOrganizationID,
	}, nil
}

// scannerOfProvider reads a scanner configuration and checks that it belongs
// to the requested cloud provider.
func (h *handlers) scannerOfProvider(ctx context.Context, orgID, configID, provider string) (store.Scanner, error) {
	scanner, err := h.deps.Store.GetScanner(ctx, orgID, configID)
	if err != nil {
		return store.Scanner{}, mapScannerError(err, configID)
	}
	if err := workflows.CheckProvider("config", configID, scanner.CloudProvider, provider); err != nil {
		return store.Scanner{}, badRequest("%s", err.Error())
	}
	return scanner, nil
}

// ListScanners lists the organisation's scanner configurations, one page at a time.
func (h *handlers) ListScanners(ctx context.Context, request api.ListScannersRequestObject) (api.ListScannersResponseObject, error) {
	p := request.Params
	limit := defaultPageSize
	if p.Limit != nil {
		limit = *p.Limit
	}
	filter := store.ScannerFilter{
		CloudProvider:       string(deref(p.CloudProvider)),
		CloudOrganizationID: deref(p.CloudOrganizationID),
		Region:              deref(p.Region),
		After:               deref(p.Cursor),
		Limit:               limit + 1, // one more shows whether a next page exists
	}
	scanners, err := h.deps.Store.ListScanners(ctx, request.OrgID, filter)
	if err != nil {
		return nil, err
	}

	resp := api.ListScanners200JSONResponse{Scanners: make([]api.Scanner, 0, min(len(scanners), limit))}
	if len(scanners) > limit {
		scanners = scanners[:limit]
		next := scanners[limit-1].ConfigID
		resp.NextCursor = &next
	}
	regions, err := h.enabledRegions(ctx, request.OrgID, scanners)
	if err != nil {
		return nil, err
	}
	for _, s := range scanners {
		resp.Scanners = append(resp.Scanners, toAPIScanner(s, regions))
	}
	return resp, nil
}

// GetScanner returns one scanner configuration.
func (h *handlers) GetScanner(ctx context.Context, request api.GetScannerRequestObject) (api.GetScannerResponseObject, error) {
	addLogAttrs(ctx, slog.String("config_id", request.ConfigID))

	scanner, err := h.deps.Store.GetScanner(ctx, request.OrgID, request.ConfigID)
	if err != nil {
		return nil, mapScannerError(err, request.ConfigID)
	}
	regions, err := h.enabledRegions(ctx, request.OrgID, []store.Scanner{scanner})
	if err != nil {
		return nil, err
	}
	return api.GetScanner200JSONResponse(toAPIScanner(scanner, regions)), nil
}

// enabledRegions maps each cloud organisation of the scanners to the set of
// its enabled regions.
func (h *handlers) enabledRegions(ctx context.Context, orgID string, scanners []store.Scanner) (map[string]map[string]bool, error) {
	regions := map[string]map[string]bool{}
	for _, s := range scanners {
		if _, seen := regions[s.CloudOrganizationID]; seen {
			continue
		}
		org, err := h.deps.Store.GetCloudOrganization(ctx, orgID, s.CloudOrganizationID)
		if errors.Is(err, store.ErrNotFound) {
			regions[s.CloudOrganizationID] = map[string]bool{}
			continue
		}
		if err != nil {
			return nil, err
		}
		set := make(map[string]bool, len(org.EnabledRegions))
		for _, r := range org.EnabledRegions {
			set[r] = true
		}
		regions[s.CloudOrganizationID] = set
	}
	return regions, nil
}

func toAPIScanner(s store.Scanner, regions map[string]map[string]bool) api.Scanner {
	enabled := regions[s.CloudOrganizationID][s.Region]
	out := api.Scanner{
		ConfigID:            s.ConfigID,
		CloudProvider:       api.CloudProvider(s.CloudProvider),
		CloudOrganizationID: s.CloudOrganizationID,
		Region:              s.Region,
		WorkersPaused:       s.WorkersPaused,
		State:               api.ScannerState(s.State),
		RegionEnabled:       &enabled,
		CreatedAt:           s.CreatedAt.UTC(),
		UpdatedAt:           s.UpdatedAt.UTC(),
	}
	if s.LastError != "" {
		out.LastError = &s.LastError
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

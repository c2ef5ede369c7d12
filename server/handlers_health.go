package server

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// readinessTimeout bounds each dependency check of the readiness probe.
const readinessTimeout = 2 * time.Second

// GetHealthz answers while the process serves requests.
func (h *handlers) GetHealthz(ctx context.Context, request api.GetHealthzRequestObject) (api.GetHealthzResponseObject, error) {
	return api.GetHealthz200JSONResponse{Status: api.Ok}, nil
}

// GetReadyz checks the database, the lock service and the workflow engine.
func (h *handlers) GetReadyz(ctx context.Context, request api.GetReadyzRequestObject) (api.GetReadyzResponseObject, error) {
	checks := map[string]func(context.Context) error{
		"database": h.deps.Store.Ping,
		"locks":    h.deps.Locker.Ping,
		"engine":   h.deps.Engine.Ping,
	}
	results := make(map[string]string, len(checks))
	var failed []string
	for name, check := range checks {
		cctx, cancel := context.WithTimeout(ctx, readinessTimeout)
		err := check(cctx)
		cancel()
		if err != nil {
			failed = append(failed, name)
			results[name] = err.Error()
			h.logger(ctx).Warn("readiness check failed", "dependency", name, "error", err)
			continue
		}
		results[name] = "ok"
	}

	if len(failed) > 0 {
		sort.Strings(failed)
		msg := "not ready: " + strings.Join(failed, ", ") + " unavailable"
		return api.GetReadyz503JSONResponse{Status: api.Unavailable, Checks: &results, Error: &msg}, nil
	}
	return api.GetReadyz200JSONResponse{Status: api.Ok, Checks: &results}, nil
}

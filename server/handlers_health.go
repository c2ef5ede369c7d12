package server

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// readinessTimeout bounds each dependency check of the readiness probe, and
// readinessGrace is how much longer the probe waits for a check that
// ignores its context before reporting it timed out.
const (
	readinessTimeout = 2 * time.Second
	readinessGrace   = 500 * time.Millisecond
)

// GetHealthz reports the process alive; it succeeds while the process
// serves requests.
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
	// The checks run at once, so the probe responds within one timeout even
	// when several dependencies hang.
	type result struct {
		name string
		err  error
	}
	done := make(chan result, len(checks))
	for name, check := range checks {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, readinessTimeout)
			defer cancel()
			done <- result{name, check(cctx)}
		}()
	}

	// A check that ignores its context still cannot hold the probe.
	timeout := time.NewTimer(readinessTimeout + readinessGrace)
	defer timeout.Stop()
	results := make(map[string]string, len(checks))
	var failed []string
	for range checks {
		var r result
		select {
		case r = <-done:
		case <-timeout.C:
			for name := range checks {
				if _, answered := results[name]; !answered {
					failed = append(failed, name)
					results[name] = "check timed out"
				}
			}
			return readinessAnswer(results, failed), nil
		}
		if r.err != nil {
			failed = append(failed, r.name)
			results[r.name] = r.err.Error()
			h.logger(ctx).Warn("readiness check failed", "dependency", r.name, "error", r.err)
			continue
		}
		results[r.name] = "ok"
	}

	return readinessAnswer(results, failed), nil
}

func readinessAnswer(results map[string]string, failed []string) api.GetReadyzResponseObject {
	if len(failed) > 0 {
		sort.Strings(failed)
		msg := "not ready: " + strings.Join(failed, ", ") + " unavailable"
		return api.GetReadyz503JSONResponse{Status: api.Unavailable, Checks: &results, Error: &msg}
	}
	return api.GetReadyz200JSONResponse{Status: api.Ok, Checks: &results}
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// Public messages fixed by the API contract.
const (
	msgConfigNotFound   = "Config not found"
	msgJobNotFound      = "Job not found"
	msgCloudOrgNotFound = "Cloud organization not found"
)

// mapScannerError turns a store error about one scanner configuration into
// the API error; unknown errors pass through and become a 500.
func mapScannerError(err error, configID string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(msgConfigNotFound)
	}
	return fmt.Errorf("config %s: %w", configID, err)
}

// mapDispatchError turns an error of the dispatcher into the API error.
func mapDispatchError(err error, configID string) error {
	var busy *workflows.BusyError
	var merged *workflows.MergedError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(msgConfigNotFound)
	case errors.As(err, &merged):
		return conflict(merged.Error(), "")
	case errors.As(err, &busy):
		return conflict(fmt.Sprintf("config %s has a running workflow %s; retry when it has finished",
			configID, busy.Active.ID), busy.Active.ID)
	}
	return mapSharedDispatchError(err, "config "+configID)
}

// mapSharedDispatchError maps the dispatcher errors whose response does not
// depend on the operation; subject names its target, such as "config cfg-1".
// Unknown errors pass through and become a 500.
func mapSharedDispatchError(err error, subject string) error {
	var mismatch *workflows.ProviderMismatchError
	switch {
	case errors.As(err, &mismatch):
		return badRequest("%s", mismatch.Error())
	case errors.Is(err, workflows.ErrLockNotObtained):
		return unavailable(subject+" is locked by another request; retry later", err)
	case errors.Is(err, workflows.ErrLockUnavailable):
		return unavailable("lock service unavailable; retry later", err)
	case errors.Is(err, store.ErrAlreadyExists):
		// Every job id of this second is taken.
		return unavailable("too many jobs for "+subject+" this second; retry later", err)
	}
	return fmt.Errorf("%s: %w", subject, err)
}

// itemError returns the public message of a failed batch item: the message
// of an API error, or a generic one for an unexpected error.
func itemError(err error) string {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status != 500 {
		return apiErr.Message
	}
	return msgServerError
}

// logger returns the server's logger carrying the request's log fields, for
// errors a handler handles itself instead of returning them.
func (h *handlers) logger(ctx context.Context) *slog.Logger {
	attrs := logAttrs(ctx)
	args := make([]any, 0, len(attrs))
	for _, a := range attrs {
		args = append(args, a)
	}
	return h.deps.Logger.With(args...)
}

// levelOf is the log level of a handled error: Info for client errors,
// Error for server errors.
func levelOf(err error) slog.Level {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status < 500 {
		return slog.LevelInfo
	}
	return slog.LevelError
}

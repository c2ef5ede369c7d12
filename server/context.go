package server

import (
	"context"
	"log/slog"
	"sync"
)

// contextKey is the type of the keys this package stores in a request
// context. Being unexported, it cannot collide with keys of other packages.
type contextKey int

const (
	logFieldsKey contextKey = iota
	orgIDKey
)

// logFields collects the attributes of one request that its log lines carry:
// the request line and every handled-error line. Handlers of batch
// operations add attributes from several goroutines, hence the mutex.
type logFields struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

// withLogFields returns ctx with an attribute collection for one request
// that starts with its request_id.
func withLogFields(ctx context.Context, requestID string) context.Context {
	fields := &logFields{attrs: []slog.Attr{slog.String("request_id", requestID)}}
	return context.WithValue(ctx, logFieldsKey, fields)
}

// addLogAttrs adds attributes such as config_id or job_id to the log lines of
// the request that ctx belongs to. An attribute replaces an earlier one with
// the same key. Outside a request (no collection in ctx) it does nothing.
func addLogAttrs(ctx context.Context, attrs ...slog.Attr) {
	fields, ok := ctx.Value(logFieldsKey).(*logFields)
	if !ok {
		return
	}

	fields.mu.Lock()
	defer fields.mu.Unlock()
	for _, attr := range attrs {
		replaced := false
		for i := range fields.attrs {
			if fields.attrs[i].Key == attr.Key {
				fields.attrs[i] = attr
				replaced = true
				break
			}
		}
		if !replaced {
			fields.attrs = append(fields.attrs, attr)
		}
	}
}

// logAttrs returns a copy of the attributes collected for the request of
// ctx, request_id first.
func logAttrs(ctx context.Context) []slog.Attr {
	fields, ok := ctx.Value(logFieldsKey).(*logFields)
	if !ok {
		return nil
	}

	fields.mu.Lock()
	defer fields.mu.Unlock()
	return append([]slog.Attr(nil), fields.attrs...)
}

// withOrgID returns ctx carrying the organisation that the request's bearer
// token was verified for.
func withOrgID(ctx context.Context, orgID string) context.Context {
	return context.WithValue(ctx, orgIDKey, orgID)
}

// orgIDFromContext returns the organisation of the authenticated request, the
// token's org-id claim. It is empty outside /api/v1 routes, which need no token.
func orgIDFromContext(ctx context.Context) string {
	orgID, _ := ctx.Value(orgIDKey).(string)
	return orgID
}

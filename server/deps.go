package server

import (
	"log/slog"
	"time"

	"github.com/scanner-ops/onboarding-service/server/auth"
	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// Deps is everything New needs to build the HTTP server. Zero values are
// replaced by the defaults documented on each field.
type Deps struct {
	// Store is the database; required.
	Store *store.Store
	// Dispatcher starts and queues workflows; required.
	Dispatcher *workflows.Dispatcher
	// Engine runs workflows; required, and pinged by the readiness probe.
	Engine workflows.Engine
	// Locker guards per-config operations; required, and pinged by the
	// readiness probe.
	Locker workflows.Locker
	// Auth verifies bearer tokens; required.
	Auth *auth.Verifier
	// Logger receives one line per request and per handled error; nil
	// means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, instruments every request and serves /metrics
	// without authentication.
	Metrics *Metrics
	// CORSAllowOrigins lists the browser origins allowed to call the API;
	// empty disables CORS headers, "*" allows any origin.
	CORSAllowOrigins []string
	// BodyLimit is the maximum request body in bytes; 0 means 1 MiB.
	BodyLimit int64
	// Now returns the current time; nil means time.Now. Tests set it to
	// get fixed job ids.
	Now func() time.Time
}

package server

import (
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// handlers implements the generated strict server interface on top of the
// store and the workflow dispatcher. Each method reads the request, calls
// the store or the dispatcher, and maps the result. Errors go back to the
// HTTP error handler, which maps and logs them in one place.
type handlers struct {
	deps Deps
}

var _ api.StrictServerInterface = (*handlers)(nil)

func newHandlers(d Deps) *handlers {
	return &handlers{deps: d}
}

func (h *handlers) now() time.Time {
	if h.deps.Now != nil {
		return h.deps.Now()
	}
	return time.Now()
}

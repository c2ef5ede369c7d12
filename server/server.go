// Package server is the HTTP layer of the service: the echo server, its
// middleware, the handlers of the generated strict server interface, error
// mapping and request validation against openapi/openapi.yaml.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// DefaultBodyLimit is the request body limit when Deps.BodyLimit is 0, in
// bytes (1 MiB). A batch of 1000 scanners takes about 60 KiB.
const DefaultBodyLimit int64 = 1 << 20

// apiPrefix starts the paths that need a bearer token and are validated
// against the OpenAPI document.
const apiPrefix = "/api/v1/"

// New builds the echo server: the generated API under /api/v1, the probes,
// the OpenAPI document and the Swagger UI. Every request passes, in this
// order: request id, panic recovery, request logging, CORS (when
// d.CORSAllowOrigins is set), the body limit, and for /api/v1 routes
// authentication and then validation against the OpenAPI document. ctx
// bounds loading the document.
func New(ctx context.Context, d Deps) (*echo.Echo, error) {
	d = d.withDefaults()
	if err := d.validate(); err != nil {
		return nil, err
	}

	validator, err := newRequestValidator(ctx)
	if err != nil {
		return nil, err
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Pre(headAsGet())
	e.HTTPErrorHandler = newErrorHandler(d.Logger, d.BodyLimit)

	api.RegisterHandlers(e, api.NewStrictHandler(newHandlers(d), nil))
	if err := registerDocs(e); err != nil {
		return nil, err
	}
	routes := newRouteSet(e, apiPrefix)

	e.Use(requestID())
	if d.Metrics != nil {
		e.GET("/metrics", d.Metrics.handler())
		e.Use(d.Metrics.middleware())
	}
	e.Use(recoverPanics(), logRequests(d.Logger), unescapePathParams())
	if len(d.CORSAllowOrigins) > 0 {
		e.Use(cors(d.CORSAllowOrigins))
	}
	e.Use(limitBody(d.BodyLimit), authenticate(d.Auth, routes), validator.middleware(routes))

	return e, nil
}

// withDefaults returns d with its zero fields replaced by the defaults
// documented on Deps.
func (d Deps) withDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.BodyLimit == 0 {
		d.BodyLimit = DefaultBodyLimit
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// validate reports the fields of d that New cannot work without.
func (d Deps) validate() error {
	var errs []error
	if d.Store == nil {
		errs = append(errs, errors.New("Store is required"))
	}
	if d.Dispatcher == nil {
		errs = append(errs, errors.New("Dispatcher is required"))
	}
	if d.Engine == nil {
		errs = append(errs, errors.New("Engine is required"))
	}
	if d.Locker == nil {
		errs = append(errs, errors.New("Locker is required"))
	}
	if d.Auth == nil {
		errs = append(errs, errors.New("Auth is required"))
	}
	if d.BodyLimit < 0 {
		errs = append(errs, fmt.Errorf("BodyLimit is %d bytes; it must be positive, or 0 for the default", d.BodyLimit))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid server dependencies: %w", err)
	}
	return nil
}

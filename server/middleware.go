package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// maxRequestIDLength is the longest X-Request-ID accepted from a client, in
// bytes. Longer or otherwise unusual ids are replaced by a generated one so
// a client cannot inject text into the logs.
const maxRequestIDLength = 128

// corsMaxAgeSeconds is how long a browser may cache a preflight response.
const corsMaxAgeSeconds = 600

// routeSet holds the routes that need a token and validation, keyed by
// method and echo route template ("POST /api/v1/:orgID/scanner/remove").
type routeSet map[string]struct{}

// newRouteSet collects the routes of e whose template starts with prefix.
func newRouteSet(e *echo.Echo, prefix string) routeSet {
	routes := routeSet{}
	for _, route := range e.Routes() {
		if strings.HasPrefix(route.Path, prefix) {
			routes[route.Method+" "+route.Path] = struct{}{}
		}
	}
	return routes
}

// matches reports whether the route echo matched for c is in the set. It is
// false for unknown paths and methods, for which echo returns 404 or 405.
func (s routeSet) matches(c echo.Context) bool {
	_, ok := s[c.Request().Method+" "+c.Path()]
	return ok
}

// requestID sets X-Request-ID on the response: the client's value when it
// is 1 to maxRequestIDLength characters of [A-Za-z0-9._-], else a
// generated one.
func requestID() echo.MiddlewareFunc {
	setID := middleware.RequestIDWithConfig(middleware.RequestIDConfig{})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		withID := setID(next)
		return func(c echo.Context) error {
			header := c.Request().Header
			if !isValidRequestID(header.Get(echo.HeaderXRequestID)) {
				header.Del(echo.HeaderXRequestID)
			}
			return withID(c)
		}
	}
}

func isValidRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for _, r := range id {
		isAlphanumeric := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !isAlphanumeric && r != '.' && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// requestIDOf returns the request id that requestID put on the response.
func requestIDOf(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

// panicError is a recovered panic: its value and the stack of the goroutine
// that panicked. The error handler responds with a 500 and logs the stack.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("panic: %v", e.value)
}

// recoverPanics turns a panic in a later middleware or a handler into a
// panicError. http.ErrAbortHandler is passed on, because net/http uses it
// to abort a response on purpose.
func recoverPanics() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				recovered := recover()
				if recovered == nil {
					return
				}
				if recovered == http.ErrAbortHandler {
					panic(recovered)
				}
				err = &panicError{value: recovered, stack: debug.Stack()}
			}()
			return next(c)
		}
	}
}

// logRequests writes one Info line per request once its response is written,
// with the request id, status, duration and the attributes that later
// middleware and handlers add through addLogAttrs. It hands errors to the
// error handler itself so that the line has the final status. It logs the
// path without the query string and no header, so no credential reaches
// the log.
func logRequests(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req := c.Request()
			c.SetRequest(req.WithContext(withLogFields(req.Context(), requestIDOf(c))))

			returned := false
			defer func() {
				res := c.Response()
				status := res.Status
				if !returned && !res.Committed {
					// A panic is on its way to recoverPanics, which responds with 500.
					status = http.StatusInternalServerError
				}

				attrs := logAttrs(c.Request().Context())
				attrs = append(attrs,
					slog.String("method", req.Method),
					slog.String("path", req.URL.Path),
					slog.String("route", c.Path()),
					slog.Int("status", status),
					slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
					slog.Int64("bytes_out", res.Size),
					slog.String("remote_addr", req.RemoteAddr),
				)
				logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
			}()

			if err := next(c); err != nil {
				c.Error(err)
			}
			returned = true
			return nil
		}
	}
}

// cors responds to preflight requests from the allowed origins and lets browsers
// send the Authorization header and read the polling headers.
func cors(allowOrigins []string) echo.MiddlewareFunc {
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins: allowOrigins,
		// With empty AllowMethods, echo responds to a preflight with the
		// methods that the router has for the path.
		AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType},
		ExposeHeaders: []string{echo.HeaderLocation, echo.HeaderRetryAfter, echo.HeaderXRequestID},
		MaxAge:        corsMaxAgeSeconds,
	})
}

// limitBody returns a 413 error for a request body over limit bytes: at once when
// Content-Length announces it, else when a reader gets past the limit.
func limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > limit {
				return tooLarge(limit)
			}
			if req.Body != nil && req.Body != http.NoBody {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			}
			return next(c)
		}
	}
}

// unescapePathParams decodes percent-encoded path parameters. echo matches
// routes on the raw path and leaves "%2D" in c.Param, while clients, the
// token's org-id and the document's router all mean the decoded value. A
// value that does not decode is left as it is, for validation to reject.
func unescapePathParams() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			values := c.ParamValues()
			for i, v := range values {
				if !strings.Contains(v, "%") {
					continue
				}
				if decoded, err := url.PathUnescape(v); err == nil {
					values[i] = decoded
				}
			}
			c.SetParamValues(values...)
			return next(c)
		}
	}
}

// headAsGet serves HEAD requests with the GET route of the same path, as
// HTTP requires of every resource that supports GET. The request is routed
// and handled as GET, and the body it writes is discarded. It runs before
// routing, which reads the method of the request net/http passed in, so it
// changes that request's method.
func headAsGet() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if req := c.Request(); req.Method == http.MethodHead {
				req.Method = http.MethodGet
				res := c.Response()
				res.Writer = headResponseWriter{res.Writer}
			}
			return next(c)
		}
	}
}

// headResponseWriter sends the status and headers of a response but no body.
type headResponseWriter struct {
	http.ResponseWriter
}

func (w headResponseWriter) Write(p []byte) (int, error) {
	return len(p), nil
}

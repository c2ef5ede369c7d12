package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/scanner-ops/onboarding-service/gen/api"
	"github.com/scanner-ops/onboarding-service/store"
)

// busyRetryAfterSeconds is the Retry-After header of 409 and 503
// responses, in seconds.
const busyRetryAfterSeconds = 30

// Public messages whose wording clients match on.
const (
	msgUnauthorised   = "Unauthorised"
	msgAccessDenied   = "Access denied"
	msgServerError    = "Internal server error"
	msgNotFound       = "Not found"
	msgRequestAborted = "request cancelled"
	msgConflict       = "Conflict"
)

// APIError is an error that carries the HTTP response it maps to. Handlers
// return it, usually through badRequest, notFound, conflict or unavailable,
// and the error handler writes it as {"error": Message, "jobId": JobID}.
type APIError struct {
	// Status is the HTTP status code. Zero derives it from Err:
	// store.ErrNotFound gives 404, store.ErrConflict 409, anything else 500.
	Status int
	// Message is the public text of the "error" field. A 500 response always
	// contains "Internal server error", whatever Message is.
	Message string
	// JobID names the running job behind a 409; empty leaves "jobId" out.
	JobID string
	// RetryAfter, in seconds, is sent as the Retry-After header when above 0.
	RetryAfter int
	// Err is the cause. It is logged and never sent to the client.
	Err error
}

// Error returns the public message followed by the cause, for logs.
func (e *APIError) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

// Unwrap returns the cause, so errors.Is finds the sentinels of lower layers.
func (e *APIError) Unwrap() error {
	return e.Err
}

// badRequest returns a 400 whose message names the invalid value.
func badRequest(format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// notFound returns a 404 with msg, such as "Config not found".
func notFound(msg string) *APIError {
	return &APIError{Status: http.StatusNotFound, Message: msg}
}

// conflict returns a 409 naming the running job that blocks the request.
func conflict(msg, jobID string) *APIError {
	return &APIError{Status: http.StatusConflict, Message: msg, JobID: jobID, RetryAfter: busyRetryAfterSeconds}
}

// unavailable returns a 503 for a dependency that failed, such as the lock
// service; err is logged and msg is sent.
func unavailable(msg string, err error) *APIError {
	return &APIError{Status: http.StatusServiceUnavailable, Message: msg, RetryAfter: busyRetryAfterSeconds, Err: err}
}

// newErrorHandler returns the echo.HTTPErrorHandler that writes every error
// as JSON (schema api.Error) and logs it once: 4xx at Info, 5xx at Error,
// cancelled requests not at all. bodyLimit, in bytes, is named in 413 responses.
func newErrorHandler(logger *slog.Logger, bodyLimit int64) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		response, cancelled := mapError(err, c, bodyLimit)
		if !cancelled {
			logHandledError(logger, c, err, response)
		}
		writeError(logger, c, response)
	}
}

// mapError turns err into the response the client gets. cancelled reports
// that the client went away, which is not worth a log line.
func mapError(err error, c echo.Context, bodyLimit int64) (response *APIError, cancelled bool) {
	req := c.Request()
	response = &APIError{Status: http.StatusInternalServerError}

	var apiErr *APIError
	var httpErr *echo.HTTPError
	var maxBytesErr *http.MaxBytesError
	switch {
	case errors.Is(err, context.Canceled) && req.Context().Err() != nil:
		response.Status, response.Message = http.StatusServiceUnavailable, msgRequestAborted
		cancelled = true
	case errors.As(err, &maxBytesErr):
		response = tooLarge(maxBytesErr.Limit)
	case errors.As(err, &apiErr):
		*response = *apiErr
		if response.Status == 0 {
			response.Status = statusOfSentinel(err)
		}
	case errors.As(err, &httpErr):
		response = mapEchoError(httpErr, c, bodyLimit)
	case store.IsUnavailable(err):
		response = unavailable("database unavailable; retry later", err)
	default:
		response.Status = statusOfSentinel(err)
	}

	switch response.Status {
	case 0:
		response.Status, response.Message = http.StatusInternalServerError, msgServerError
	case http.StatusNotFound:
		if response.Message == "" {
			response.Message = msgNotFound
		}
	case http.StatusConflict:
		if response.Message == "" {
			response.Message = msgConflict
		}
		// The contract promises Retry-After on every 409.
		if response.RetryAfter == 0 {
			response.RetryAfter = busyRetryAfterSeconds
		}
	case http.StatusUnauthorized:
		response.Message = msgUnauthorised
	case http.StatusForbidden:
		response.Message = msgAccessDenied
	case http.StatusInternalServerError:
		response.Message = msgServerError
	}
	if response.Message == "" {
		response.Message = http.StatusText(response.Status)
	}
	return response, cancelled
}

// statusOfSentinel returns the status for the sentinel errors of lower
// layers in err's chain, or 0 for an unknown error.
func statusOfSentinel(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	default:
		return 0
	}
}

// mapEchoError words the errors of echo itself (routing, binding) and of the
// generated parameter binding the way this API words its own.
func mapEchoError(httpErr *echo.HTTPError, c echo.Context, bodyLimit int64) *APIError {
	// echo nests an HTTPError in Internal to replace the outer one.
	if inner, ok := httpErr.Internal.(*echo.HTTPError); ok {
		httpErr = inner
	}

	req := c.Request()
	response := &APIError{Status: httpErr.Code}
	switch httpErr.Code {
	case http.StatusNotFound:
		response.Message = fmt.Sprintf("Not found: %s %s", req.Method, shorten(req.URL.Path, maxEchoedPath))
	case http.StatusMethodNotAllowed:
		response.Message = fmt.Sprintf("Method not allowed: %s %s", req.Method, shorten(req.URL.Path, maxEchoedPath))
		if allow := c.Response().Header().Get(echo.HeaderAllow); allow != "" {
			response.Message += " (allowed: " + allow + ")"
		}
	case http.StatusRequestEntityTooLarge:
		response = tooLarge(bodyLimit)
	case http.StatusUnsupportedMediaType:
		response = unsupportedMediaType(req.Header.Get(echo.HeaderContentType))
	case http.StatusBadRequest:
		response.Message = describeBindError(httpErr)
	}
	return response
}

// describeBindError words a 400 of echo's binder or of the generated
// parameter binding without their Go type names.
func describeBindError(httpErr *echo.HTTPError) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	internal := httpErr.Internal
	if errors.As(internal, &syntaxErr) || errors.As(internal, &typeErr) || errors.Is(internal, io.ErrUnexpectedEOF) {
		return "invalid JSON body: " + describeJSONError(internal)
	}

	// The generated wrappers return "Invalid format for parameter NAME: CAUSE",
	// and CAUSE names Go functions, so only NAME is kept.
	msg, _ := httpErr.Message.(string)
	if rest, ok := strings.CutPrefix(msg, "Invalid format for parameter "); ok {
		name, _, _ := strings.Cut(rest, ":")
		return name + " has an invalid format"
	}
	return http.StatusText(http.StatusBadRequest)
}

// logHandledError writes the one log line of a handled error with the
// request's ids and the cause. The Authorization header is never among them.
func logHandledError(logger *slog.Logger, c echo.Context, err error, response *APIError) {
	req := c.Request()
	ctx := req.Context()

	level := slog.LevelInfo
	if response.Status >= http.StatusInternalServerError {
		level = slog.LevelError
	}

	attrs := logAttrs(ctx)
	if !hasAttr(attrs, "request_id") {
		attrs = append(attrs, slog.String("request_id", requestIDOf(c)))
	}
	attrs = append(attrs,
		slog.String("method", req.Method),
		slog.String("path", req.URL.Path),
		slog.Int("status", response.Status),
	)
	if response.JobID != "" && !hasAttr(attrs, "job_id") {
		attrs = append(attrs, slog.String("job_id", response.JobID))
	}
	attrs = append(attrs, slog.String("error", err.Error()))

	var panicErr *panicError
	if errors.As(err, &panicErr) {
		attrs = append(attrs, slog.String("stack", string(panicErr.stack)))
	}
	if c.Response().Committed {
		attrs = append(attrs, slog.Bool("response_committed", true))
	}
	logger.LogAttrs(ctx, level, "request failed", attrs...)
}

// writeError sends response as JSON, or only its status and headers for HEAD.
// A response that is already committed is left as it is.
func writeError(logger *slog.Logger, c echo.Context, response *APIError) {
	if c.Response().Committed {
		return
	}

	header := c.Response().Header()
	if response.RetryAfter > 0 {
		header.Set(echo.HeaderRetryAfter, strconv.Itoa(response.RetryAfter))
	}
	if response.Status == http.StatusUnauthorized && header.Get(echo.HeaderWWWAuthenticate) == "" {
		header.Set(echo.HeaderWWWAuthenticate, "Bearer")
	}

	var err error
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(response.Status)
	} else {
		body := api.Error{Error: response.Message}
		if response.JobID != "" {
			body.JobID = &response.JobID
		}
		err = c.JSON(response.Status, body)
	}
	if err != nil {
		logger.LogAttrs(c.Request().Context(), slog.LevelWarn, "writing error response failed",
			slog.String("request_id", requestIDOf(c)), slog.String("error", err.Error()))
	}
}

// tooLarge returns the 413 for a body over limit bytes.
func tooLarge(limit int64) *APIError {
	return &APIError{
		Status:  http.StatusRequestEntityTooLarge,
		Message: "request body is larger than the limit of " + formatBytes(limit),
	}
}

// unsupportedMediaType returns the 415 for a body sent with contentType.
func unsupportedMediaType(contentType string) *APIError {
	msg := "missing Content-Type: send application/json"
	if contentType != "" {
		msg = fmt.Sprintf("unsupported Content-Type %q: send application/json", shorten(contentType, maxEchoedValue))
	}
	return &APIError{Status: http.StatusUnsupportedMediaType, Message: msg}
}

// formatBytes writes n bytes in the largest binary unit that divides it.
func formatBytes(n int64) string {
	const kib, mib = 1 << 10, 1 << 20
	switch {
	case n >= mib && n%mib == 0:
		return strconv.FormatInt(n/mib, 10) + " MiB"
	case n >= kib && n%kib == 0:
		return strconv.FormatInt(n/kib, 10) + " KiB"
	default:
		return strconv.FormatInt(n, 10) + " bytes"
	}
}

func hasAttr(attrs []slog.Attr, key string) bool {
	for _, attr := range attrs {
		if attr.Key == key {
			return true
		}
	}
	return false
}

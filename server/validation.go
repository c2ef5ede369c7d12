package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/scanner-ops/onboarding-service/openapi"
)

// Limits on how much of a client's input an error message repeats, in bytes.
const (
	maxEchoedValue = 64
	maxEchoedPath  = 128
)

// requestValidator checks requests against the embedded OpenAPI document, so
// a handler only receives parameters and bodies that match the contract.
type requestValidator struct {
	router  routers.Router
	options *openapi3filter.Options
}

// newRequestValidator loads and validates the embedded OpenAPI document once.
// registerStrictJSONDecoder replaces kin-openapi's JSON body decoder once per
// process. The registry is global to openapi3filter.
var registerStrictJSONDecoder sync.Once

// errTrailingData is the cause of a body with more after its JSON value.
var errTrailingData = errors.New("unexpected data after the JSON value")

// strictJSONBodyDecoder decodes a JSON body like kin-openapi's own decoder,
// but rejects data after the first value: the default decoder stops there,
// so `{...} garbage` would be validated and processed as `{...}`.
func strictJSONBodyDecoder(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	// The body limit middleware bounds what this reads.
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var value any
	if err := dec.Decode(&value); err != nil {
		return nil, &openapi3filter.ParseError{Kind: openapi3filter.KindInvalidFormat, Cause: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &openapi3filter.ParseError{Kind: openapi3filter.KindInvalidFormat,
			Cause: fmt.Errorf("%w at offset %d", errTrailingData, dec.InputOffset())}
	}
	if err := checkDuplicateKeys(data); err != nil {
		return nil, &openapi3filter.ParseError{Kind: openapi3filter.KindInvalidFormat, Cause: err}
	}
	return value, nil
}

// errDuplicateKey is the cause of a body with a repeated object member.
var errDuplicateKey = errors.New("duplicate key")

// checkDuplicateKeys rejects an object that names a member twice. Go keeps
// the last one silently, while a proxy or another service in front may read
// the first, so the two would act on different requests. data is valid
// JSON; the walk follows json.Decoder's tokens, in which object keys and
// values alternate.
func checkDuplicateKeys(data []byte) error {
	type frame struct {
		keys    map[string]bool // nil for an array
		wantKey bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		token, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}

		if n := len(stack); n > 0 && stack[n-1].wantKey {
			key, isKey := token.(string)
			if !isKey { // the closing '}' of the object
				stack = stack[:n-1]
				valueDone()
				continue
			}
			if stack[n-1].keys[key] {
				return fmt.Errorf("%w %q at offset %d", errDuplicateKey, shorten(key, maxEchoedValue), dec.InputOffset())
			}
			stack[n-1].keys[key] = true
			stack[n-1].wantKey = false
			continue
		}

		switch token {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

func newRequestValidator(ctx context.Context) (*requestValidator, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(openapi.YAML)
	if err != nil {
		return nil, fmt.Errorf("loading the OpenAPI document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validating the OpenAPI document: %w", err)
	}

	// The gorillamux router also matches the host and port of the document's
	// servers. Requests arrive under any host name (behind a proxy, in
	// tests), so routing uses the path alone.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("building the OpenAPI router: %w", err)
	}

	registerStrictJSONDecoder.Do(func() {
		openapi3filter.RegisterBodyDecoder("application/json", strictJSONBodyDecoder)
	})

	options := &openapi3filter.Options{
		MultiError: false,
		// authenticate has already checked the bearer token.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// The generated strict handlers bind the value that was validated
		// instead of decoding the body a second time.
		KeepValidatedValue: true,
		// Schema errors would otherwise render the schema and the whole
		// received value, which can be a 1 MiB body.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
	return &requestValidator{router: router, options: options}, nil
}

// middleware validates the requests of the routes in routes and returns a
// 400, 413 or 415 error for those that do not match the document.
func (v *requestValidator) middleware(routes routeSet) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !routes.matches(c) {
				return next(c)
			}

			req := c.Request()
			// Go drops a query pair it cannot decode, which would turn
			// `config-id=%zz` into "config-id is required".
			if _, err := url.ParseQuery(req.URL.RawQuery); err != nil {
				return badRequest("invalid query string: %s", shorten(err.Error(), maxEchoedValue))
			}
			route, pathParams, err := v.router.FindRoute(req)
			if err != nil {
				// echo's router lets the last path parameter run over a "/"
				// ("/scanners/a/b" matches ":configId"); the document's router
				// does not, and neither does the contract.
				return &APIError{Status: http.StatusNotFound, Message: "Not found: " + req.Method + " " + shorten(req.URL.Path, maxEchoedPath), Err: err}
			}

			// The router returns path parameters as they appear in the raw
			// path; the values the handlers see are decoded.
			for name, value := range pathParams {
				if decoded, err := url.PathUnescape(value); err == nil {
					pathParams[name] = decoded
				}
			}
			input := &openapi3filter.RequestValidationInput{
				Request:    req,
				PathParams: pathParams,
				Route:      route,
				Options:    v.options,
			}
			if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil {
				return describeValidationError(err, req)
			}
			return next(c)
		}
	}
}

// describeValidationError turns an error of openapi3filter.ValidateRequest
// into the response for the client, naming the field or parameter as the
// client wrote it.
func describeValidationError(err error, req *http.Request) *APIError {
	var maxBytesErr *http.MaxBytesError
	if errors.As(err, &maxBytesErr) {
		return tooLarge(maxBytesErr.Limit)
	}

	var reqErr *openapi3filter.RequestError
	if !errors.As(err, &reqErr) {
		return &APIError{Status: http.StatusBadRequest, Message: "invalid request", Err: err}
	}

	switch {
	case reqErr.Parameter != nil:
		return badRequest("%s", describeParameterError(reqErr))
	case reqErr.RequestBody != nil:
		return describeBodyError(reqErr, req)
	default:
		return &APIError{Status: http.StatusBadRequest, Message: "invalid request", Err: err}
	}
}

// describeParameterError words an invalid path or query parameter.
func describeParameterError(reqErr *openapi3filter.RequestError) string {
	param := reqErr.Parameter
	var schemaErr *openapi3.SchemaError
	var parseErr *openapi3filter.ParseError
	switch {
	case errors.Is(reqErr.Err, openapi3filter.ErrInvalidRequired):
		return param.Name + " is required"
	case errors.Is(reqErr.Err, openapi3filter.ErrInvalidEmptyValue):
		return param.Name + " must not be empty"
	case errors.As(reqErr.Err, &schemaErr):
		if param.In == openapi3.ParameterInPath {
			// The router hands path values over still escaped.
			if s, ok := schemaErr.Value.(string); ok {
				if unescaped, err := url.PathUnescape(s); err == nil {
					schemaErr.Value = unescaped
				}
			}
		}
		return describeSchemaError(schemaErr, param.Name)
	case errors.As(reqErr.Err, &parseErr):
		return describeParseError(parseErr, param.Name)
	default:
		return param.Name + " is invalid"
	}
}

// describeBodyError words an invalid request body. A body that is not JSON
// is a 415 and a body over the limit is a 413.
func describeBodyError(reqErr *openapi3filter.RequestError, req *http.Request) *APIError {
	if strings.HasPrefix(reqErr.Reason, "header Content-Type has unexpected value") {
		return unsupportedMediaType(req.Header.Get(echo.HeaderContentType))
	}

	var schemaErr *openapi3.SchemaError
	var parseErr *openapi3filter.ParseError
	switch {
	case errors.Is(reqErr.Err, openapi3filter.ErrInvalidRequired):
		return badRequest("request body is required")
	case errors.As(reqErr.Err, &schemaErr):
		return badRequest("%s", describeSchemaError(schemaErr, ""))
	case errors.As(reqErr.Err, &parseErr):
		return badRequest("invalid JSON body: %s", describeJSONError(parseErr.RootCause()))
	default:
		return &APIError{Status: http.StatusBadRequest, Message: "invalid request body", Err: reqErr}
	}
}

// describeSchemaError words a value that breaks its schema. base names the
// parameter, or is empty for the request body.
func describeSchemaError(schemaErr *openapi3.SchemaError, base string) string {
	field := fieldName(base, schemaErr.JSONPointer())
	schema := schemaErr.Schema
	if schema == nil {
		return field + " is invalid"
	}

	switch schemaErr.SchemaField {
	case "required":
		return field + " is required"
	case "enum":
		allowed := make([]string, 0, len(schema.Enum))
		for _, value := range schema.Enum {
			allowed = append(allowed, fmt.Sprint(value))
		}
		return fmt.Sprintf("%s must be one of %s%s", field, strings.Join(allowed, ", "), got(schemaErr.Value))
	case "pattern":
		return fmt.Sprintf("%s must match %s%s", field, schema.Pattern, got(schemaErr.Value))
	case "minLength":
		if schema.MinLength == 1 {
			return field + " must not be empty"
		}
		return fmt.Sprintf("%s must be at least %d characters", field, schema.MinLength)
	case "maxLength":
		if schema.MaxLength != nil {
			return fmt.Sprintf("%s must be at most %d characters", field, *schema.MaxLength)
		}
	case "minItems":
		return fmt.Sprintf("%s must contain at least %s", field, countItems(schema.MinItems))
	case "maxItems":
		if schema.MaxItems != nil {
			return fmt.Sprintf("%s must contain at most %s", field, countItems(*schema.MaxItems))
		}
	case "minimum", "exclusiveMinimum":
		if schema.Min != nil {
			return fmt.Sprintf("%s must be at least %s%s", field, formatNumber(*schema.Min), got(schemaErr.Value))
		}
	case "maximum", "exclusiveMaximum":
		if schema.Max != nil {
			return fmt.Sprintf("%s must be at most %s%s", field, formatNumber(*schema.Max), got(schemaErr.Value))
		}
	case "type":
		if schema.Type != nil && len(schema.Type.Slice()) > 0 {
			return fmt.Sprintf("%s must be %s", field, withArticle(schema.Type.Slice()[0]))
		}
	case "nullable":
		return field + " must not be null"
	case "format":
		return fmt.Sprintf("%s must be a valid %s%s", field, schema.Format, got(schemaErr.Value))
	}
	return field + " is invalid"
}

// describeParseError words a parameter that could not be parsed as its type.
func describeParseError(parseErr *openapi3filter.ParseError, name string) string {
	switch {
	case strings.Contains(parseErr.Reason, "integer"):
		return fmt.Sprintf("%s must be an integer%s", name, got(parseErr.Value))
	case strings.Contains(parseErr.Reason, "number"):
		return fmt.Sprintf("%s must be a number%s", name, got(parseErr.Value))
	case strings.Contains(parseErr.Reason, "boolean"):
		return fmt.Sprintf("%s must be a boolean%s", name, got(parseErr.Value))
	default:
		return fmt.Sprintf("%s has an invalid format%s", name, got(parseErr.Value))
	}
}

// describeJSONError words a JSON decoding error by offset and field, without
// repeating the input or naming Go types.
func describeJSONError(err error) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("%s at offset %d", syntaxErr.Error(), syntaxErr.Offset)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "the body"
		}
		return fmt.Sprintf("%s must be %s, not %s (offset %d)",
			field, withArticle(jsonTypeName(typeErr.Type)), typeErr.Value, typeErr.Offset)
	case errors.Is(err, errTrailingData), errors.Is(err, errDuplicateKey):
		return err.Error()
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	default:
		return "malformed JSON"
	}
}

// fieldName writes a JSON pointer the way clients write a field:
// ["scanners", "3", "configID"] is scanners[3].configID.
func fieldName(base string, pointer []string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, part := range pointer {
		if _, err := strconv.Atoi(part); err == nil {
			b.WriteString("[" + part + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(part)
	}
	if b.Len() == 0 {
		return "request body"
	}
	return b.String()
}

// got returns ` (got VALUE)` for a scalar value, shortened to
// maxEchoedValue bytes, and nothing for objects and arrays.
func got(value any) string {
	switch v := value.(type) {
	case string:
		return fmt.Sprintf(" (got %q)", shorten(v, maxEchoedValue))
	case json.Number:
		return " (got " + shorten(v.String(), maxEchoedValue) + ")"
	case float64:
		return " (got " + formatNumber(v) + ")"
	case int, int32, int64, uint64, bool:
		return fmt.Sprintf(" (got %v)", v)
	default:
		return ""
	}
}

// shorten cuts s to at most limit bytes on a rune boundary and marks the
// cut with "...".
func shorten(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func countItems(n uint64) string {
	if n == 1 {
		return "1 item"
	}
	return strconv.FormatUint(n, 10) + " items"
}

func formatNumber(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// withArticle returns a JSON type name with its indefinite article.
func withArticle(typeName string) string {
	switch typeName {
	case "integer", "object", "array":
		return "an " + typeName
	default:
		return "a " + typeName
	}
}

// jsonTypeName returns the JSON type that decodes into Go type t.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	default:
		return "value"
	}
}

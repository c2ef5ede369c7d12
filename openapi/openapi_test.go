package openapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/scanner-ops/onboarding-service/openapi"
)

// loadDocument parses and validates openapi.yaml from this directory.
func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatalf("reading openapi.yaml: %v", err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("loading openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is invalid: %v", err)
	}
	return doc
}

func TestEmbeddedDocumentIsTheFile(t *testing.T) {
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, openapi.YAML) {
		t.Errorf("openapi.YAML (%d bytes) differs from openapi.yaml (%d bytes)", len(openapi.YAML), len(data))
	}
}

func TestDocumentIsValid(t *testing.T) {
	doc := loadDocument(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, expected 3.0.3", doc.OpenAPI)
	}
}

// quickReference lists every operation of the consumer guide with its
// method and success status.
var quickReference = []struct {
	method, path string
	status       int
}{
	{http.MethodPost, "/api/v1/{orgID}/scanner/remove", http.StatusAccepted},
	{http.MethodPost, "/api/v1/{orgID}/scanner/batch/remove", http.StatusAccepted},
	{http.MethodPost, "/api/v1/{orgID}/scanner/batch/reinstall", http.StatusAccepted},
	{http.MethodPost, "/api/v1/{orgID}/scanner/batch/pause", http.StatusOK},
	{http.MethodPost, "/api/v1/{orgID}/scanner/batch/unpause", http.StatusOK},
	{http.MethodPost, "/api/v1/{orgID}/management/reinstall", http.StatusOK},
	{http.MethodPost, "/api/v1/{orgID}/scanner/region/disable", http.StatusOK},
	{http.MethodDelete, "/api/v1/{orgID}/cloud-organization", http.StatusAccepted},
	{http.MethodDelete, "/api/v1/{orgID}/cloud-provider/{cloudProvider}", http.StatusAccepted},
	{http.MethodPost, "/api/v1/{orgID}/management/uninstall", http.StatusOK},
	{http.MethodPost, "/api/v1/{orgID}/management/pause", http.StatusOK},
	{http.MethodPost, "/api/v1/{orgID}/management/unpause", http.StatusOK},
	{http.MethodGet, "/api/v1/jobs/{jobId}", http.StatusOK},
	{http.MethodGet, "/api/v1/jobs", http.StatusOK},
}

func TestQuickReferenceOperations(t *testing.T) {
	doc := loadDocument(t)
	for _, want := range quickReference {
		name := want.method + " " + want.path
		item := doc.Paths.Find(want.path)
		if item == nil {
			t.Errorf("%s: path is missing", name)
			continue
		}
		op := item.GetOperation(want.method)
		if op == nil {
			t.Errorf("%s: method is missing; the path has %v", name, methodsOf(item))
			continue
		}
		if got := successCodes(op); !slices.Equal(got, []int{want.status}) {
			t.Errorf("%s: success statuses %v, expected only %d", name, got, want.status)
		}
	}

	listJobs := doc.Paths.Find("/api/v1/jobs").Get
	for _, param := range []string{"parent-id", "config-id"} {
		if p := listJobs.Parameters.GetByInAndName(openapi3.ParameterInQuery, param); p == nil {
			t.Errorf("GET /api/v1/jobs: query parameter %s is missing", param)
		}
	}
}

// successCodes returns the 2xx statuses an operation documents, sorted.
func successCodes(op *openapi3.Operation) []int {
	var codes []int
	for key := range op.Responses.Map() {
		code, err := strconv.Atoi(key)
		if err == nil && code >= 200 && code < 300 {
			codes = append(codes, code)
		}
	}
	sort.Ints(codes)
	return codes
}

func methodsOf(item *openapi3.PathItem) []string {
	var methods []string
	for method := range item.Operations() {
		methods = append(methods, method)
	}
	sort.Strings(methods)
	return methods
}

// TestFieldSpellings pins the field names clients were written against:
// single-scanner bodies use configId, batch items configID, batch status
// parentID.
func TestFieldSpellings(t *testing.T) {
	doc := loadDocument(t)
	cases := []struct {
		schema string
		fields []string
	}{
		{"ScannerRequest", []string{"configId", "cloudProvider"}},
		{"BatchScannerItem", []string{"configID", "cloudProvider"}},
		{"BatchPauseItemResult", []string{"configID", "cloudProvider", "success", "workersPaused", "error"}},
		{"BatchDispatchResult", []string{"configID", "cloudProvider", "success", "status", "workflowName", "error"}},
		{"WorkersResponse", []string{"message", "configId", "workersPaused"}},
		{"RegionDisableResponse", []string{"message", "region", "cloudOrganizationId"}},
		{"JobStatus", []string{"workflowName", "status", "configId", "orgId", "cloudProvider", "region",
			"currentStep", "retryAttempt", "createdAt", "updatedAt", "error"}},
		{"JobList", []string{"parentID", "summary", "jobs"}},
		{"JobSummary", []string{"total", "running", "completed", "failed"}},
		{"AsyncJobResponse", []string{"jobId", "statusUrl", "jobInfo"}},
		{"CloudOrganizationRequest", []string{"cloudOrganizationId", "cloudProvider"}},
		{"Error", []string{"error"}},
	}
	for _, tc := range cases {
		ref := doc.Components.Schemas[tc.schema]
		if ref == nil || ref.Value == nil {
			t.Errorf("schema %s is missing", tc.schema)
			continue
		}
		for _, field := range tc.fields {
			if _, ok := ref.Value.Properties[field]; !ok {
				t.Errorf("schema %s has no property %q", tc.schema, field)
			}
		}
	}
}

func TestExamplesMatchSchemas(t *testing.T) {
	doc := loadDocument(t)
	checked := 0
	check := func(where string, schema *openapi3.SchemaRef, value any) {
		t.Helper()
		checked++
		if schema == nil || schema.Value == nil {
			t.Errorf("%s: example without a schema", where)
			return
		}
		if err := schema.Value.VisitJSON(value); err != nil {
			t.Errorf("%s: example does not match its schema: %v", where, err)
		}
	}
	checkContent := func(where string, content openapi3.Content) {
		for mediaType, media := range content {
			at := where + " " + mediaType
			if media.Example != nil {
				check(at+" example", media.Schema, media.Example)
			}
			for name, example := range media.Examples {
				if example.Value == nil {
					t.Errorf("%s examples.%s is not resolved", at, name)
					continue
				}
				check(at+" examples."+name, media.Schema, example.Value.Value)
			}
		}
	}

	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				checkContent(where+" request", op.RequestBody.Value.Content)
			}
			for status, response := range op.Responses.Map() {
				if response.Value != nil {
					checkContent(fmt.Sprintf("%s response %s", where, status), response.Value.Content)
				}
			}
		}
	}
	for name, schema := range doc.Components.Schemas {
		if schema.Value != nil && schema.Value.Example != nil {
			check("schema "+name, schema, schema.Value.Example)
		}
	}

	t.Logf("checked %d examples", checked)
	// Every operation of the quick reference shows at least one example,
	// so the walk above must have found a good number of them.
	if checked < 20 {
		t.Errorf("checked %d examples, expected at least 20: the walk missed some", checked)
	}
}

func TestBearerAuthIsGlobal(t *testing.T) {
	doc := loadDocument(t)

	scheme := doc.Components.SecuritySchemes["bearerAuth"]
	if scheme == nil || scheme.Value == nil {
		t.Fatal("security scheme bearerAuth is missing")
	}
	if scheme.Value.Type != "http" || !strings.EqualFold(scheme.Value.Scheme, "bearer") || scheme.Value.BearerFormat != "JWT" {
		t.Errorf("bearerAuth is type %q scheme %q format %q, expected http bearer JWT",
			scheme.Value.Type, scheme.Value.Scheme, scheme.Value.BearerFormat)
	}

	if len(doc.Security) != 1 {
		t.Fatalf("global security has %d requirements, expected one: bearerAuth", len(doc.Security))
	}
	if _, ok := doc.Security[0]["bearerAuth"]; !ok || len(doc.Security[0]) != 1 {
		t.Errorf("global security is %v, expected bearerAuth alone", doc.Security[0])
	}

	exempt := map[string]bool{"/healthz": true, "/readyz": true}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			switch {
			case exempt[path]:
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("%s: security %v, expected an empty list so that it needs no token", where, op.Security)
				}
			case op.Security != nil:
				t.Errorf("%s: overrides the global security with %v", where, *op.Security)
			default:
				unauthorised := op.Responses.Status(http.StatusUnauthorized)
				if unauthorised == nil || unauthorised.Value == nil {
					t.Errorf("%s: needs a token but documents no 401", where)
					continue
				}
				if _, ok := unauthorised.Value.Headers["WWW-Authenticate"]; !ok {
					t.Errorf("%s: 401 does not document WWW-Authenticate", where)
				}
			}
		}
	}
	for path := range exempt {
		if doc.Paths.Find(path) == nil {
			t.Errorf("%s is missing", path)
		}
	}
}

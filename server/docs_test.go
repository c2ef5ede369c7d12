package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/scanner-ops/onboarding-service/openapi"
)

func TestDocs(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	t.Run("openapi.yaml", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodGet, "/openapi.yaml", ""))

		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
		if got := rec.Header().Get(echo.HeaderContentType); got != "application/yaml" {
			t.Errorf("Content-Type = %q, want application/yaml", got)
		}
		if !bytes.Equal(rec.Body.Bytes(), openapi.YAML) {
			t.Error("body differs from the embedded openapi.yaml")
		}
	})

	t.Run("openapi.json", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodGet, "/openapi.json", ""))

		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
		if got := rec.Header().Get(echo.HeaderContentType); got != echo.MIMEApplicationJSON {
			t.Errorf("Content-Type = %q, want application/json", got)
		}
		var doc struct {
			OpenAPI string                     `json:"openapi"`
			Paths   map[string]json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		if doc.OpenAPI != "3.0.3" {
			t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
		}
		if _, ok := doc.Paths["/api/v1/{orgID}/scanner/remove"]; !ok {
			t.Errorf("paths lack /api/v1/{orgID}/scanner/remove; got %d paths", len(doc.Paths))
		}
	})

	t.Run("swagger index", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodGet, "/swagger/index.html", ""))

		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
		if got := rec.Header().Get(echo.HeaderContentType); !strings.HasPrefix(got, "text/html") {
			t.Errorf("Content-Type = %q, want text/html", got)
		}
		for _, want := range []string{`id="swagger-ui"`, "swagger-ui-bundle.js", "swagger-initializer.js"} {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("index.html lacks %q", want)
			}
		}
	})

	t.Run("swagger initializer loads this document", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodGet, "/swagger/swagger-initializer.js", ""))

		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
		body := rec.Body.String()
		if !strings.Contains(body, `url: "../openapi.yaml"`) {
			t.Errorf("initializer does not load ../openapi.yaml:\n%s", body)
		}
		if strings.Contains(body, "petstore") || strings.Contains(body, "https://") {
			t.Errorf("initializer loads a document from the internet:\n%s", body)
		}
	})

	t.Run("swagger assets", func(t *testing.T) {
		for _, asset := range []string{"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"} {
			rec := s.serve(newRequest(http.MethodGet, "/swagger/"+asset, ""))
			if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
				t.Errorf("GET /swagger/%s = %d with %d bytes, want 200 with content", asset, rec.Code, rec.Body.Len())
			}
		}
	})

	t.Run("swagger directory redirects to index", func(t *testing.T) {
		for _, path := range []string{"/swagger/", "/swagger"} {
			rec := s.serve(newRequest(http.MethodGet, path, ""))
			if rec.Code != http.StatusFound || rec.Header().Get(echo.HeaderLocation) != swaggerIndexPath {
				t.Errorf("GET %s = %d to %q, want 302 to %s", path, rec.Code, rec.Header().Get(echo.HeaderLocation), swaggerIndexPath)
			}
		}
	})

	t.Run("unknown asset is JSON 404", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodGet, "/swagger/missing.js", ""))
		wantError(t, rec, http.StatusNotFound, "Not found: GET /swagger/missing.js")
	})
}

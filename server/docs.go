package server

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	swaggerFiles "github.com/swaggo/files/v2"
	"sigs.k8s.io/yaml"

	"github.com/scanner-ops/onboarding-service/openapi"
)

// swaggerIndexPath is the page of the Swagger UI.
const swaggerIndexPath = "/swagger/index.html"

// swaggerInitializer replaces the initializer of the swagger-ui dist, which
// loads the Petstore example from the internet. It loads this service's
// document through a relative URL, so the UI also works behind a path
// prefix, and turns off the online validator badge: the UI needs no
// internet access.
const swaggerInitializer = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "../openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
`

// registerDocs serves the OpenAPI document as /openapi.yaml and
// /openapi.json and the Swagger UI under /swagger/. None of them needs a
// token. The JSON form is converted once, here.
func registerDocs(e *echo.Echo) error {
	specJSON, err := yaml.YAMLToJSON(openapi.YAML)
	if err != nil {
		return fmt.Errorf("converting the OpenAPI document to JSON: %w", err)
	}

	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapi.YAML)
	})
	e.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, specJSON)
	})

	toIndex := func(c echo.Context) error {
		return c.Redirect(http.StatusFound, swaggerIndexPath)
	}
	e.GET("/swagger", toIndex)
	e.GET("/swagger/", toIndex)
	e.GET("/swagger/swagger-initializer.js", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", []byte(swaggerInitializer))
	})
	e.StaticFS("/swagger/", swaggerFiles.FS)
	return nil
}

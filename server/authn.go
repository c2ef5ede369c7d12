package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/scanner-ops/onboarding-service/server/auth"
)

// orgIDParam is the path parameter that names the organisation in every
// /api/v1/{orgID}/... route. The /api/v1/jobs routes have none.
const orgIDParam = "orgID"

// authenticate checks the bearer token of every request to a route in
// routes: 401 when it is missing or invalid, 403 when its org-id claim is
// empty or differs from the orgID path parameter. On success the claim is
// stored in the request context for orgIDFromContext and added to the log
// lines as org_id. Other requests (documentation, probes, unknown routes)
// pass through untouched.
func authenticate(verifier *auth.Verifier, routes routeSet) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !routes.matches(c) {
				return next(c)
			}

			req := c.Request()
			ctx := req.Context()

			// Neither error quotes the header or the token (a promise of
			// package auth), so the reason can be logged as it is.
			raw, err := auth.BearerToken(req.Header.Get(echo.HeaderAuthorization))
			if err != nil {
				return unauthorised(err)
			}
			claims, err := verifier.Verify(ctx, raw)
			if err != nil {
				if !errors.Is(err, auth.ErrInvalidToken) {
					return unavailable("token verification unavailable; retry later", err)
				}
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
				return unauthorised(err)
			}

			if claims.OrgID == "" {
				return forbidden(errors.New("token has no org-id claim"))
			}
			addLogAttrs(ctx, slog.String("org_id", claims.OrgID))
			if slices.Contains(c.ParamNames(), orgIDParam) {
				if pathOrgID := c.Param(orgIDParam); pathOrgID != claims.OrgID {
					addLogAttrs(ctx, slog.String("path_org_id", shorten(pathOrgID, maxEchoedValue)))
					return forbidden(fmt.Errorf("token org-id %q does not match the orgID path parameter", claims.OrgID))
				}
			}

			c.SetRequest(req.WithContext(withOrgID(ctx, claims.OrgID)))
			return next(c)
		}
	}
}

// unauthorised returns the 401 for a missing or invalid token; reason is
// logged only.
func unauthorised(reason error) *APIError {
	return &APIError{Status: http.StatusUnauthorized, Message: msgUnauthorised, Err: reason}
}

// forbidden returns the 403 for a token of another organisation; reason is
// logged only.
func forbidden(reason error) *APIError {
	return &APIError{Status: http.StatusForbidden, Message: msgAccessDenied, Err: reason}
}

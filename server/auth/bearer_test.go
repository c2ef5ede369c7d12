package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scanner-ops/onboarding-service/server/auth"
)

func TestBearerToken(t *testing.T) {
	t.Parallel()

	const token = "eyJhbGciOiJIUzI1NiJ9.eyJvcmctaWQiOiJvcmcifQ.c2lnbmF0dXJl"
	tests := []struct {
		name   string
		header string
		want   string
		reason string // non-empty: the header is rejected with this reason
	}{
		{name: "canonical scheme is accepted", header: "Bearer " + token, want: token},
		{name: "lower-case scheme is accepted", header: "bearer " + token, want: token},
		{name: "upper-case scheme is accepted", header: "BEARER " + token, want: token},
		{name: "token68 padding is accepted", header: "Bearer abc+/~_-.==", want: "abc+/~_-.=="},
		{name: "missing header is rejected", header: "", reason: "Authorization header is missing"},
		{name: "basic scheme is rejected", header: "Basic dXNlcjpwYXNzd29yZA==", reason: "Authorization scheme is not Bearer"},
		{name: "token without scheme is rejected", header: token, reason: "Authorization scheme is not Bearer"},
		{name: "scheme glued to token is rejected", header: "Bearer" + token, reason: "Authorization scheme is not Bearer"},
		{name: "scheme alone is rejected", header: "Bearer", reason: "bearer token is empty"},
		{name: "scheme and space are rejected", header: "Bearer ", reason: "bearer token is empty"},
		{name: "two tokens are rejected", header: "Bearer " + token + " " + token, reason: "more than one bearer token"},
		{name: "double space is rejected", header: "Bearer  " + token, reason: "more than one bearer token"},
		{name: "trailing tab is rejected", header: "Bearer " + token + "\t", reason: "more than one bearer token"},
		{name: "tab after scheme is rejected", header: "Bearer\t" + token, reason: "Authorization scheme is not Bearer"},
		{name: "quoted token is rejected", header: `Bearer "` + token + `"`, reason: "outside the token68 syntax"},
		{name: "padding alone is rejected", header: "Bearer ==", reason: "outside the token68 syntax"},
		{name: "padding inside token is rejected", header: "Bearer ab=cd", reason: "outside the token68 syntax"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := auth.BearerToken(tt.header)

			if tt.reason == "" {
				if err != nil {
					t.Fatalf("BearerToken: %v", err)
				}
				if got != tt.want {
					t.Errorf("token = %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("BearerToken returned %q, want an error containing %q", got, tt.reason)
			}
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("error %q does not wrap ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error = %q, want it to contain %q", err, tt.reason)
			}
			if got != "" {
				t.Errorf("token = %q, want empty on error", got)
			}
			for _, secret := range []string{"c2lnbmF0dXJl", "dXNlcjpwYXNzd29yZA"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes the credentials", err)
				}
			}
		})
	}
}

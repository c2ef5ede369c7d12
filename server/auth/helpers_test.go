package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/scanner-ops/onboarding-service/server/auth"
)

// testSecret is a 40-byte HS256 secret.
var testSecret = []byte("0123456789abcdef0123456789abcdef-test-1")

// baseTime is the fixed "now" of the tests, truncated to seconds because
// JWT times are whole seconds.
var baseTime = time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

// testClock is a settable clock for Config.Now.
type testClock struct {
	nanos atomic.Int64
}

func newTestClock(at time.Time) *testClock {
	c := &testClock{}
	c.nanos.Store(at.UnixNano())
	return c
}

func (c *testClock) Now() time.Time { return time.Unix(0, c.nanos.Load()).UTC() }

func (c *testClock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }

// validClaims returns the claims of a token valid at now for org_abc123.
// Each edit replaces a claim; a nil value removes it.
func validClaims(now time.Time, edits map[string]any) map[string]any {
	claims := map[string]any{
		"org-id": "org_abc123",
		"sub":    "user-1",
		"iss":    "https://issuer.test",
		"aud":    []string{"onboarding-api"},
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(5 * time.Minute).Unix(),
	}
	for name, value := range edits {
		if value == nil {
			delete(claims, name)
			continue
		}
		claims[name] = value
	}

	return claims
}

// signToken signs claims as a compact JWS with alg and key. A jwk.Key with
// a kid puts that kid in the header and overrides a kid in headers.
func signToken(t *testing.T, alg jwa.SignatureAlgorithm, key any, claims map[string]any, headers map[string]any) string {
	t.Helper()

	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("marshalling claims: %v", err)
	}

	return signPayload(t, alg, key, payload, headers)
}

// signPayload signs raw payload bytes, which need not be JSON.
func signPayload(t *testing.T, alg jwa.SignatureAlgorithm, key any, payload []byte, headers map[string]any) string {
	t.Helper()

	protected := jws.NewHeaders()
	for name, value := range headers {
		if err := protected.Set(name, value); err != nil {
			t.Fatalf("setting header %s: %v", name, err)
		}
	}
	signed, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(protected)))
	if err != nil {
		t.Fatalf("signing token with %s: %v", alg, err)
	}

	return string(signed)
}

// encodeSegment returns the base64url encoding of a JSON value or of raw
// bytes, for tokens built by hand.
func encodeSegment(t *testing.T, value any) string {
	t.Helper()

	raw, ok := value.([]byte)
	if !ok {
		var err error
		raw, err = json.Marshal(value)
		if err != nil {
			t.Fatalf("marshalling segment: %v", err)
		}
	}

	return base64.RawURLEncoding.EncodeToString(raw)
}

// newRSAKey returns a 2048-bit RSA private key with kid ("" for none).
func newRSAKey(t *testing.T, kid string) jwk.Key {
	t.Helper()

	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generating RSA key: %v", err)
	}

	return importKey(t, raw, kid)
}

// newECKey returns an EC private key on curve with kid ("" for none).
func newECKey(t *testing.T, curve elliptic.Curve, kid string) jwk.Key {
	t.Helper()

	raw, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatalf("generating EC key: %v", err)
	}

	return importKey(t, raw, kid)
}

func importKey(t *testing.T, raw any, kid string) jwk.Key {
	t.Helper()

	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatalf("importing key: %v", err)
	}
	if kid != "" {
		if err := key.Set(jwk.KeyIDKey, kid); err != nil {
			t.Fatalf("setting kid: %v", err)
		}
	}

	return key
}

// withoutKID returns a copy of key with its kid removed, to sign tokens
// whose header carries no kid.
func withoutKID(t *testing.T, key jwk.Key) jwk.Key {
	t.Helper()

	clone, err := key.Clone()
	if err != nil {
		t.Fatalf("cloning key: %v", err)
	}
	if err := clone.Remove(jwk.KeyIDKey); err != nil {
		t.Fatalf("removing kid: %v", err)
	}

	return clone
}

// jwksServer serves a JWKS on loopback and records the requests it gets.
type jwksServer struct {
	*httptest.Server
	body     atomic.Pointer[[]byte]
	requests atomic.Int64
	// failing makes the server answer 503 Service Unavailable.
	failing atomic.Bool

	mu         sync.Mutex
	requestLog []time.Time
}

// requestTimes returns the arrival times of all requests so far.
func (s *jwksServer) requestTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()

	return append([]time.Time(nil), s.requestLog...)
}

// startJWKSServer serves the public parts of keys until the test ends.
func startJWKSServer(t *testing.T, keys ...jwk.Key) *jwksServer {
	t.Helper()

	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.requestLog = append(s.requestLog, time.Now())
		s.mu.Unlock()
		s.requests.Add(1)
		if s.failing.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	s.serve(t, keys...)

	return s
}

// serve replaces the served key set by the public parts of keys.
func (s *jwksServer) serve(t *testing.T, keys ...jwk.Key) {
	t.Helper()

	set := jwk.NewSet()
	for _, key := range keys {
		public, err := key.PublicKey()
		if err != nil {
			t.Fatalf("deriving public key: %v", err)
		}
		if err := set.AddKey(public); err != nil {
			t.Fatalf("adding key to set: %v", err)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatalf("marshalling key set: %v", err)
	}
	s.body.Store(&body)
}

// newJWKSVerifier returns a Verifier for server's key set whose cache stops
// when the test ends.
func newJWKSVerifier(t *testing.T, server *jwksServer, clock *testClock) *auth.Verifier {
	t.Helper()

	verifier, err := auth.New(t.Context(), auth.Config{JWKSURL: server.URL, Now: clock.Now})
	if err != nil {
		t.Fatalf("New with JWKS URL: %v", err)
	}

	return verifier
}

// sharedKeys generates the keys that several tests use once, because RSA
// key generation is slow under the race detector.
var sharedKeys = sync.OnceValues(func() (map[string]jwk.Key, error) {
	keys := map[string]jwk.Key{}
	for kid, generate := range map[string]func() (any, error){
		"rsa-1":     func() (any, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		"rsa-other": func() (any, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		"ec-1":      func() (any, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		"ec384-1":   func() (any, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) },
		"ec-nokid":  func() (any, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
	} {
		raw, err := generate()
		if err != nil {
			return nil, err
		}
		key, err := jwk.FromRaw(raw)
		if err != nil {
			return nil, err
		}
		if kid != "ec-nokid" {
			if err := key.Set(jwk.KeyIDKey, kid); err != nil {
				return nil, err
			}
		}
		keys[kid] = key
	}

	return keys, nil
})

func testKeys(t *testing.T) map[string]jwk.Key {
	t.Helper()

	keys, err := sharedKeys()
	if err != nil {
		t.Fatalf("generating shared keys: %v", err)
	}

	return keys
}

// checkRejected asserts that err wraps ErrInvalidToken, contains reason
// and does not quote token or any of its parts.
func checkRejected(t *testing.T, err error, reason, token string) {
	t.Helper()

	if err == nil {
		t.Fatalf("error = nil, want one containing %q", reason)
	}
	if !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("error %q does not wrap ErrInvalidToken", err)
	}
	if !strings.Contains(err.Error(), reason) {
		t.Errorf("error = %q, want it to contain %q", err, reason)
	}
	for _, part := range append(strings.Split(token, "."), token) {
		if len(part) >= 8 && strings.Contains(err.Error(), part) {
			t.Errorf("error %q quotes the token or a part of it (%q)", err, part)
		}
	}
}

// waitFor polls condition every 20 ms until it returns true or timeout
// passes.
func waitFor(t *testing.T, timeout time.Duration, what string, condition func() bool) {
	t.Helper()

	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()

	for !condition() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-ticker.C:
		}
	}
}

package auth_test

import (
	"context"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/scanner-ops/onboarding-service/server/auth"
)

func TestVerifyJWKS(t *testing.T) {
	t.Parallel()

	keys := testKeys(t)
	server := startJWKSServer(t, keys["rsa-1"], keys["ec-1"], keys["ec384-1"], keys["ec-nokid"])
	clock := newTestClock(baseTime)
	verifier := newJWKSVerifier(t, server, clock)
	now := baseTime

	rsaPublic, err := keys["rsa-1"].PublicKey()
	if err != nil {
		t.Fatalf("deriving RSA public key: %v", err)
	}
	var rsaRaw any
	if err := rsaPublic.Raw(&rsaRaw); err != nil {
		t.Fatalf("exporting RSA public key: %v", err)
	}
	publicDER, err := x509.MarshalPKIXPublicKey(rsaRaw)
	if err != nil {
		t.Fatalf("encoding RSA public key: %v", err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER})
	publicJWK, err := json.Marshal(rsaPublic)
	if err != nil {
		t.Fatalf("encoding RSA public JWK: %v", err)
	}

	tests := []struct {
		name   string
		alg    jwa.SignatureAlgorithm
		key    any
		edits  map[string]any
		header map[string]any
		reason string // non-empty: the token is rejected with this reason
	}{
		{name: "RS256 with known kid is accepted", alg: jwa.RS256, key: keys["rsa-1"]},
		{name: "RS512 with known kid is accepted", alg: jwa.RS512, key: keys["rsa-1"]},
		{name: "ES256 with known kid is accepted", alg: jwa.ES256, key: keys["ec-1"]},
		{name: "ES384 with known kid is accepted", alg: jwa.ES384, key: keys["ec384-1"]},
		{name: "ES256 without kid is accepted", alg: jwa.ES256, key: withoutKID(t, keys["ec-1"])},
		{name: "ES256 by key without kid in set is accepted", alg: jwa.ES256, key: keys["ec-nokid"]},
		{
			name:   "unknown kid falls back to keys without kid",
			alg:    jwa.ES256,
			key:    keys["ec-nokid"],
			header: map[string]any{"kid": "not-in-set"},
		},
		{
			name:   "HS256 signed with public key PEM is rejected",
			alg:    jwa.HS256,
			key:    publicPEM,
			header: map[string]any{"kid": "rsa-1"},
			reason: `algorithm "HS256" is not accepted`,
		},
		{
			name:   "HS256 signed with public JWK is rejected",
			alg:    jwa.HS256,
			key:    publicJWK,
			header: map[string]any{"kid": "rsa-1"},
			reason: `algorithm "HS256" is not accepted`,
		},
		{
			name:   "RS256 by another key with known kid is rejected",
			alg:    jwa.RS256,
			key:    withoutKID(t, keys["rsa-other"]),
			header: map[string]any{"kid": "rsa-1"},
			reason: "signature verification failed",
		},
		{
			name:   "RS256 with kid of an EC key is rejected",
			alg:    jwa.RS256,
			key:    withoutKID(t, keys["rsa-1"]),
			header: map[string]any{"kid": "ec-1"},
			reason: `no key with kid "ec-1" fits algorithm RS256`,
		},
		{
			name:   "ES256 with kid of a P-384 key is rejected",
			alg:    jwa.ES256,
			key:    withoutKID(t, keys["ec-1"]),
			header: map[string]any{"kid": "ec384-1"},
			reason: `no key with kid "ec384-1" fits algorithm ES256`,
		},
		{
			name:   "expired RS256 is rejected",
			alg:    jwa.RS256,
			key:    keys["rsa-1"],
			edits:  map[string]any{"exp": now.Add(-time.Hour).Unix()},
			reason: "token has expired",
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			token := signToken(t, tt.alg, tt.key, validClaims(now, tt.edits), tt.header)
			claims, err := verifier.Verify(t.Context(), token)

			if tt.reason != "" {
				checkRejected(t, err, tt.reason, token)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			checkClaims(t, claims, auth.Claims{
				OrgID: "org_abc123", Subject: "user-1", Issuer: "https://issuer.test",
				ExpiresAt: now.Add(5 * time.Minute),
			})
		})
	}

	t.Run("alg none is rejected", func(t *testing.T) {
		t.Parallel()

		token := encodeSegment(t, map[string]any{"alg": "none", "kid": "rsa-1"}) + "." +
			encodeSegment(t, validClaims(now, nil)) + "."
		_, err := verifier.Verify(t.Context(), token)
		checkRejected(t, err, `algorithm "none" is not accepted`, token)
	})
}

func TestVerifyJWKSKeyRotation(t *testing.T) {
	t.Parallel()

	oldKey := testKeys(t)["rsa-1"]
	newKey := newECKey(t, elliptic.P256(), "ec-rotated")
	server := startJWKSServer(t, oldKey)
	clock := newTestClock(baseTime)
	verifier := newJWKSVerifier(t, server, clock)
	sign := func(t *testing.T, alg jwa.SignatureAlgorithm, key jwk.Key) string {
		return signToken(t, alg, key, validClaims(clock.Now(), nil), nil)
	}
	checkRequests := func(t *testing.T, want int64) {
		t.Helper()
		if got := server.requests.Load(); got != want {
			t.Fatalf("JWKS requests = %d, want %d", got, want)
		}
	}

	checkRequests(t, 1) // the fetch at start-up
	if _, err := verifier.Verify(t.Context(), sign(t, jwa.RS256, oldKey)); err != nil {
		t.Fatalf("Verify with start-up key: %v", err)
	}
	checkRequests(t, 1)

	// The new key is accepted at once through the refresh its kid forces.
	server.serve(t, oldKey, newKey)
	claims, err := verifier.Verify(t.Context(), sign(t, jwa.ES256, newKey))
	if err != nil {
		t.Fatalf("Verify with rotated key: %v", err)
	}
	if claims.OrgID != "org_abc123" {
		t.Errorf("OrgID = %q, want %q", claims.OrgID, "org_abc123")
	}
	checkRequests(t, 2)

	// Within 30 s of that refresh, unknown kids cost no JWKS request, also
	// when they arrive concurrently.
	unknown := sign(t, jwa.ES256, newECKey(t, elliptic.P256(), "ec-unknown"))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := verifier.Verify(t.Context(), unknown)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		checkRejected(t, err, `no key with kid "ec-unknown" fits algorithm ES256`, unknown)
	}
	checkRequests(t, 2)

	// After the gap one unknown kid forces one more refresh, however many
	// tokens arrive at once.
	clock.Advance(31 * time.Second)
	errs = make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := verifier.Verify(t.Context(), unknown)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		checkRejected(t, err, `no key with kid "ec-unknown" fits algorithm ES256`, unknown)
	}
	checkRequests(t, 3)

	// A key removed from the set is rejected after the next forced refresh.
	server.serve(t, newKey)
	clock.Advance(31 * time.Second)
	if _, err := verifier.Verify(t.Context(), sign(t, jwa.RS256, oldKey)); err != nil {
		t.Fatalf("Verify with old key before any refresh: %v", err)
	}
	checkRequests(t, 3)
	_, err = verifier.Verify(t.Context(), unknown)
	checkRejected(t, err, "no key with kid", unknown)
	checkRequests(t, 4)
	token := sign(t, jwa.RS256, oldKey)
	_, err = verifier.Verify(t.Context(), token)
	checkRejected(t, err, `no key with kid "rsa-1" fits algorithm RS256`, token)
	checkRequests(t, 4)
}

func TestVerifyJWKSBackgroundRefresh(t *testing.T) {
	t.Parallel()

	firstKey := newECKey(t, elliptic.P256(), "ec-first")
	secondKey := newECKey(t, elliptic.P256(), "ec-second")
	server := startJWKSServer(t, firstKey)
	clock := newTestClock(baseTime)
	verifier, err := auth.New(t.Context(), auth.Config{
		JWKSURL:             server.URL,
		JWKSRefreshInterval: time.Second,
		Now:                 clock.Now,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	// Spend the forced refresh, so with the clock standing still only the
	// background refresh can bring in the second key.
	unknown := signToken(t, jwa.ES256, newECKey(t, elliptic.P256(), "ec-unknown"), validClaims(baseTime, nil), nil)
	_, err = verifier.Verify(t.Context(), unknown)
	checkRejected(t, err, "no key with kid", unknown)
	forced := server.requests.Load()
	if forced != 2 {
		t.Fatalf("JWKS requests after forced refresh = %d, want 2", forced)
	}

	server.serve(t, firstKey, secondKey)
	token := signToken(t, jwa.ES256, secondKey, validClaims(baseTime, nil), nil)
	waitFor(t, 10*time.Second, "background refresh to pick up the second key", func() bool {
		_, err := verifier.Verify(t.Context(), token)
		return err == nil
	})
	if got := server.requests.Load(); got <= forced {
		t.Errorf("JWKS requests = %d, want more than %d", got, forced)
	}
}

func TestVerifyJWKSForcedRefreshesStayOneSchedule(t *testing.T) {
	t.Parallel()

	server := startJWKSServer(t, newECKey(t, elliptic.P256(), "ec-1"))
	clock := newTestClock(baseTime)
	verifier, err := auth.New(t.Context(), auth.Config{
		JWKSURL:             server.URL,
		JWKSRefreshInterval: time.Second,
		Now:                 clock.Now,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	unknown := signToken(t, jwa.ES256, newECKey(t, elliptic.P256(), "ec-unknown"), validClaims(baseTime, nil), nil)
	for range 5 {
		clock.Advance(31 * time.Second)
		_, err := verifier.Verify(t.Context(), unknown)
		checkRejected(t, err, "no key with kid", unknown)
	}
	afterForced := len(server.requestTimes())
	if afterForced != 6 {
		t.Fatalf("JWKS requests after 5 forced refreshes = %d, want 6", afterForced)
	}

	// Background fetches of one schedule come about 1 s apart. Had each
	// forced refresh added a schedule, six fetches would arrive together.
	const backgroundFetches = 4
	waitFor(t, 15*time.Second, "background fetches", func() bool {
		return len(server.requestTimes()) >= afterForced+backgroundFetches
	})
	times := server.requestTimes()[afterForced:]
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 300*time.Millisecond {
			t.Errorf("background fetches %d and %d came %s apart, want at least 300ms", i-1, i, gap)
		}
	}
}

func TestVerifyJWKSServerDown(t *testing.T) {
	t.Parallel()

	knownKey := newECKey(t, elliptic.P256(), "ec-known")
	server := startJWKSServer(t, knownKey)
	clock := newTestClock(baseTime)
	verifier := newJWKSVerifier(t, server, clock)
	server.failing.Store(true)

	// Keys fetched before the outage keep working.
	known := signToken(t, jwa.ES256, knownKey, validClaims(baseTime, nil), nil)
	if _, err := verifier.Verify(t.Context(), known); err != nil {
		t.Fatalf("Verify with cached key during outage: %v", err)
	}

	// An unknown kid cannot be decided, which is not the client's fault.
	unknown := signToken(t, jwa.ES256, newECKey(t, elliptic.P256(), "ec-new"), validClaims(baseTime, nil), nil)
	_, err := verifier.Verify(t.Context(), unknown)
	if !errors.Is(err, auth.ErrKeySetUnavailable) {
		t.Fatalf("error = %v, want one wrapping ErrKeySetUnavailable", err)
	}
	if errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("error %q wraps ErrInvalidToken, want only ErrKeySetUnavailable", err)
	}
	if !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Errorf("error = %q, want it to name the JWKS response status", err)
	}
	if strings.Contains(err.Error(), unknown) {
		t.Errorf("error %q quotes the token", err)
	}
	if got := server.requests.Load(); got != 2 {
		t.Errorf("JWKS requests = %d, want 2", got)
	}

	// Within the gap the failed refresh is not retried, and Verify returns
	// its error again.
	_, err = verifier.Verify(t.Context(), unknown)
	if !errors.Is(err, auth.ErrKeySetUnavailable) {
		t.Errorf("error within the gap = %v, want one wrapping ErrKeySetUnavailable", err)
	}
	if got := server.requests.Load(); got != 2 {
		t.Errorf("JWKS requests = %d, want 2", got)
	}

	// A request whose context has ended does not start a refresh.
	clock.Advance(31 * time.Second)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = verifier.Verify(cancelled, unknown)
	if !errors.Is(err, auth.ErrKeySetUnavailable) {
		t.Errorf("error with cancelled context = %v, want one wrapping ErrKeySetUnavailable", err)
	}
	if got := server.requests.Load(); got != 2 {
		t.Errorf("JWKS requests = %d, want 2", got)
	}

	// Once the server is back, the next forced refresh finds that the kid
	// is still unknown.
	server.failing.Store(false)
	_, err = verifier.Verify(t.Context(), unknown)
	checkRejected(t, err, `no key with kid "ec-new"`, unknown)
	if got := server.requests.Load(); got != 3 {
		t.Errorf("JWKS requests = %d, want 3", got)
	}
}

func TestVerifyJWKSAfterCacheStopped(t *testing.T) {
	t.Parallel()

	knownKey := newECKey(t, elliptic.P256(), "ec-known")
	server := startJWKSServer(t, knownKey)
	cacheCtx, stopCache := context.WithCancel(t.Context())
	verifier, err := auth.New(cacheCtx, auth.Config{JWKSURL: server.URL, Now: func() time.Time { return baseTime }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	stopCache()

	known := signToken(t, jwa.ES256, knownKey, validClaims(baseTime, nil), nil)
	if _, err := verifier.Verify(t.Context(), known); err != nil {
		t.Errorf("Verify with cached key after the cache stopped: %v", err)
	}

	unknown := signToken(t, jwa.ES256, newECKey(t, elliptic.P256(), "ec-new"), validClaims(baseTime, nil), nil)
	_, err = verifier.Verify(t.Context(), unknown)
	if !errors.Is(err, auth.ErrKeySetUnavailable) {
		t.Errorf("error = %v, want one wrapping ErrKeySetUnavailable", err)
	}
	if got := server.requests.Load(); got != 1 {
		t.Errorf("JWKS requests = %d, want 1", got)
	}
}

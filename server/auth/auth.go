// Package auth verifies the JWT bearer tokens that authenticate every /api/v1
// request and mints HS256 tokens for the CLI and tests.
//
// A Verifier runs in one of two modes, chosen by Config: HS256 with a shared
// secret, or RS256/ES256 (and their 384/512 variants) with keys from a JWKS
// URL. The token's `org-id` claim names the organisation; comparing it with
// the request path is the HTTP layer's job.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// ErrInvalidToken is wrapped by every error that Verify and BearerToken
// return for a token the client sent. The wrapping error adds a short reason
// for logs and never contains the token itself.
var ErrInvalidToken = errors.New("invalid token")

// ErrKeySetUnavailable is wrapped by the error Verify returns when no cached
// key fits a token's kid and the key set cannot be refreshed to look for
// it: the JWKS fetch failed, New's context has ended, or the request's
// context ended first. The token may be valid, so callers should treat this
// as a server-side failure rather than as an invalid token.
var ErrKeySetUnavailable = errors.New("JWKS key set unavailable")

// ErrInvalidConfig is wrapped by the errors New returns for a Config that
// cannot work, such as a short secret or both modes set.
var ErrInvalidConfig = errors.New("invalid auth configuration")

// MinSecretBytes is the minimum length of an HS256 secret. RFC 7518
// section 3.2 requires a key at least as long as the hash output (256 bits).
const MinSecretBytes = 32

// Defaults that New applies to zero fields of Config.
const (
	// DefaultSkew is the clock skew allowed when checking exp, nbf and iat.
	DefaultSkew = 30 * time.Second
	// DefaultJWKSRefreshInterval is the minimum time between two background
	// refreshes of the JWKS.
	DefaultJWKSRefreshInterval = 15 * time.Minute
	// DefaultHTTPTimeout bounds one JWKS request of the default HTTP client.
	DefaultHTTPTimeout = 10 * time.Second
)

// minJWKSRefreshInterval is the shortest background refresh interval the
// key cache can honour. httprc v1.0.6, which jwk.Cache of jwx v2.1.7 uses,
// replaces a refresh check window below 1 s by 15 min.
const minJWKSRefreshInterval = time.Second

// Config selects the verification mode and its limits. Exactly one of
// HS256Secret and JWKSURL must be set.
type Config struct {
	// HS256Secret is the shared HMAC secret (ONBOARDING_JWT_SECRET). It must
	// be at least MinSecretBytes long. Setting it accepts only HS256 tokens.
	HS256Secret []byte
	// JWKSURL is the address of the JSON Web Key Set that holds the RSA and
	// EC public keys (ONBOARDING_JWKS_URL). Setting it accepts only RS256,
	// RS384, RS512, ES256, ES384 and ES512 tokens.
	JWKSURL string
	// Issuer is the required `iss` claim. Empty skips the check.
	Issuer string
	// Audience is a value the `aud` claim must contain. Empty skips the
	// check.
	Audience string
	// Skew is the clock skew allowed when checking exp, nbf and iat: a token
	// is accepted up to Skew after exp, and nbf and iat may lie up to Skew
	// in the future. 0 means DefaultSkew (30 s), and a negative value is an
	// error.
	Skew time.Duration
	// JWKSRefreshInterval is the minimum time between background refreshes
	// of the key set. A longer Cache-Control max-age or Expires from the
	// JWKS server extends it. 0 means DefaultJWKSRefreshInterval (15 min),
	// and values below 1 s are an error. Tokens with an unknown kid also
	// force a refresh, at most once per 30 s.
	JWKSRefreshInterval time.Duration
	// HTTPClient is the client that fetches the JWKS. Nil means a client
	// with a DefaultHTTPTimeout (10 s) timeout.
	HTTPClient *http.Client
	// Now is the clock for expiry checks and for the forced refresh rate
	// limit. Nil means time.Now.
	Now func() time.Time
}

// Claims are the verified claims the HTTP layer needs.
type Claims struct {
	// OrgID is the `org-id` claim, or "" when the claim is missing, empty or
	// not a string.
	OrgID string
	// Subject is the `sub` claim, "" when missing.
	Subject string
	// Issuer is the `iss` claim, "" when missing.
	Issuer string
	// ExpiresAt is the `exp` claim, always set on a verified token.
	ExpiresAt time.Time
}

// Verifier checks bearer tokens against one Config. It is safe for
// concurrent use.
type Verifier struct {
	now      func() time.Time
	skew     time.Duration
	issuer   string
	audience string

	// secret is set in HS256 mode, keys in JWKS mode.
	secret []byte
	keys   *keySet
}

// New validates cfg, fills its defaults and returns a Verifier. In JWKS mode
// it registers the URL in a jwk.Cache that refreshes in the background until
// ctx is cancelled. It also fetches the key set once, so start-up fails on
// a JWKS that cannot be fetched or parsed or that has no RSA or EC key.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}

	v := &Verifier{
		now:      cfg.Now,
		skew:     cfg.Skew,
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
	}
	if len(cfg.HS256Secret) > 0 {
		// Copy so that a caller reusing its slice cannot change the key.
		v.secret = append([]byte(nil), cfg.HS256Secret...)
		return v, nil
	}

	keys, err := newKeySet(ctx, cfg)
	if err != nil {
		return nil, err
	}
	v.keys = keys

	return v, nil
}

// withDefaults checks cfg and replaces zero values by the defaults.
func withDefaults(cfg Config) (Config, error) {
	hasSecret := len(cfg.HS256Secret) > 0
	hasJWKS := cfg.JWKSURL != ""
	switch {
	case hasSecret && hasJWKS:
		return cfg, fmt.Errorf("%w: both an HS256 secret and a JWKS URL are set; set exactly one", ErrInvalidConfig)
	case !hasSecret && !hasJWKS:
		return cfg, fmt.Errorf("%w: neither an HS256 secret nor a JWKS URL is set; set exactly one", ErrInvalidConfig)
	case hasSecret && len(cfg.HS256Secret) < MinSecretBytes:
		return cfg, fmt.Errorf("%w: HS256 secret is %d bytes, the minimum is %d bytes",
			ErrInvalidConfig, len(cfg.HS256Secret), MinSecretBytes)
	}

	if hasJWKS {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return cfg, fmt.Errorf("%w: JWKS URL %s is not an absolute http or https URL",
				ErrInvalidConfig, redactURL(cfg.JWKSURL))
		}
	}

	if cfg.Skew < 0 {
		return cfg, fmt.Errorf("%w: clock skew %s is negative", ErrInvalidConfig, cfg.Skew)
	}
	if cfg.Skew == 0 {
		cfg.Skew = DefaultSkew
	}

	if cfg.JWKSRefreshInterval == 0 {
		cfg.JWKSRefreshInterval = DefaultJWKSRefreshInterval
	}
	if cfg.JWKSRefreshInterval < minJWKSRefreshInterval {
		return cfg, fmt.Errorf("%w: JWKS refresh interval %s is below the minimum of %s",
			ErrInvalidConfig, cfg.JWKSRefreshInterval, minJWKSRefreshInterval)
	}

	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	return cfg, nil
}

// acceptsAlgorithm reports whether alg is allowed in the Verifier's mode.
// HMAC and "none" are never accepted in JWKS mode, which blocks the attack
// that signs an HS256 token with a public key as the HMAC secret.
func (v *Verifier) acceptsAlgorithm(alg jwa.SignatureAlgorithm) bool {
	if v.keys == nil {
		return alg == jwa.HS256
	}

	switch alg {
	case jwa.RS256, jwa.RS384, jwa.RS512, jwa.ES256, jwa.ES384, jwa.ES512:
		return true
	default:
		return false
	}
}

// redactURL returns u with any password replaced, for error messages.
func redactURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}

	return strconv.Quote(parsed.Redacted())
}

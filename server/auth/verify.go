package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// maxTokenBytes bounds the work spent on one token. A token from Mint for a
// ten-character organisation id is 221 bytes, and the limit leaves room for
// identity-provider tokens with many claims.
const maxTokenBytes = 8 << 10

// orgIDClaim is the private claim that names the caller's organisation.
const orgIDClaim = "org-id"

// Verify checks the signature and the claims of a compact JWS token and
// returns its claims. Every rejection wraps ErrInvalidToken with a short
// reason. The one other error wraps ErrKeySetUnavailable, when a kid is not
// in the cached key set and the JWKS cannot be fetched. A valid token
// without a usable `org-id` claim returns Claims with an empty OrgID and no
// error.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	header, err := parseCompact(raw)
	if err != nil {
		return Claims{}, err
	}

	alg := header.Algorithm()
	if !v.acceptsAlgorithm(alg) {
		return Claims{}, invalidToken("algorithm %s is not accepted", quoteValue(alg.String()))
	}
	if strings.HasSuffix(raw, ".") {
		return Claims{}, invalidToken("signature is missing")
	}

	payload, err := v.verifySignature(ctx, raw, header)
	if err != nil {
		return Claims{}, err
	}

	return v.validateClaims(payload)
}

// parseCompact checks the shape of a compact JWS (three base64url parts and
// a JSON header) and returns its protected header.
func parseCompact(raw string) (jws.Headers, error) {
	if raw == "" {
		return nil, invalidToken("token is empty")
	}
	if len(raw) > maxTokenBytes {
		return nil, invalidToken("token is %d bytes, the maximum is %d", len(raw), maxTokenBytes)
	}

	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, invalidToken("malformed token: %d dot-separated parts, expected 3", len(parts))
	}
	// RFC 7515 compact serialization uses unpadded base64url. Strict mode
	// also rejects non-zero padding bits, so one token has one encoding.
	for i, name := range []string{"header", "payload", "signature"} {
		if _, err := base64.RawURLEncoding.Strict().DecodeString(parts[i]); err != nil {
			return nil, invalidToken("malformed token: %s is not valid base64url", name)
		}
	}

	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil {
		return nil, invalidToken("malformed token: header is not a valid JSON object")
	}
	signatures := msg.Signatures()
	if len(signatures) != 1 {
		return nil, invalidToken("malformed token: %d signatures, expected 1", len(signatures))
	}
	header := signatures[0].ProtectedHeaders()

	// A JWT payload is always base64url encoded, and this verifier
	// understands no critical header extension (RFC 7515 section 4.1.11).
	if len(header.Critical()) > 0 {
		return nil, invalidToken("critical header extensions are not supported")
	}
	if _, ok := header.Get("b64"); ok {
		return nil, invalidToken("header parameter b64 is not supported")
	}

	return header, nil
}

// verifySignature checks the token's signature with the secret or with the
// key set and returns the decoded payload.
func (v *Verifier) verifySignature(ctx context.Context, raw string, header jws.Headers) ([]byte, error) {
	alg := header.Algorithm()
	options := []jws.VerifyOption{jws.WithCompact()}

	if v.keys == nil {
		options = append(options, jws.WithKey(jwa.HS256, v.secret))
	} else {
		keys, err := v.keys.candidates(ctx, header.KeyID(), alg)
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			options = append(options, jws.WithKey(alg, key))
		}
	}

	payload, err := jws.Verify([]byte(raw), options...)
	if err != nil {
		return nil, invalidToken("signature verification failed")
	}

	return payload, nil
}

// validateClaims decodes the payload and checks exp, nbf, iat, iss and aud.
func (v *Verifier) validateClaims(payload []byte) (Claims, error) {
	token := jwt.New()
	if err := json.Unmarshal(payload, token); err != nil {
		return Claims{}, invalidToken("malformed token: claims are not a valid JSON object")
	}

	options := []jwt.ValidateOption{
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithAcceptableSkew(v.skew),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	}
	if v.issuer != "" {
		options = append(options, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		options = append(options, jwt.WithAudience(v.audience))
	}
	if err := jwt.Validate(token, options...); err != nil {
		return Claims{}, claimError(err)
	}
	// jwx skips the expiry check for exp = 0, so such a token would never
	// expire.
	if token.Expiration().Unix() == 0 {
		return Claims{}, invalidToken("claim exp is 0")
	}

	claims := Claims{
		Subject:   token.Subject(),
		Issuer:    token.Issuer(),
		ExpiresAt: token.Expiration(),
	}
	if value, ok := token.Get(orgIDClaim); ok {
		// A non-string org-id leaves OrgID empty, so the HTTP layer
		// denies access instead of guessing a conversion.
		claims.OrgID, _ = value.(string)
	}

	return claims, nil
}

// claimError maps a jwt.Validate error to a reason. Reasons are fixed
// strings because the library's messages may quote claim values.
func claimError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired()):
		return invalidToken("token has expired (exp)")
	case errors.Is(err, jwt.ErrTokenNotYetValid()):
		return invalidToken("token is not valid yet (nbf)")
	case errors.Is(err, jwt.ErrInvalidIssuedAt()):
		return invalidToken("token is issued in the future (iat)")
	case errors.Is(err, jwt.ErrInvalidIssuer()):
		return invalidToken("issuer does not match")
	case errors.Is(err, jwt.ErrInvalidAudience()):
		return invalidToken("audience does not match")
	case errors.Is(err, jwt.ErrRequiredClaim()):
		return invalidToken("claim exp is missing")
	default:
		return invalidToken("claims are invalid")
	}
}

// invalidToken returns an error that wraps ErrInvalidToken with a reason.
func invalidToken(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// quoteValue quotes a value taken from a token header, such as alg or kid,
// and cuts it to 64 bytes so a crafted header cannot flood the logs.
func quoteValue(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		return strconv.Quote(s[:maxLen]) + "..."
	}

	return strconv.Quote(s)
}

package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// CLISubject is the `sub` claim of tokens issued by Mint.
const CLISubject = "onboarding-service-cli"

// Mint issues an HS256 token for orgID that is valid from now until
// now+ttl, with the claims org-id, sub (CLISubject), iat, nbf and exp. It
// sets no iss or aud, so a Verifier configured with Issuer or Audience
// rejects it. secret must be at least MinSecretBytes long and ttl positive.
func Mint(secret []byte, orgID string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("minting token: secret is %d bytes, the minimum is %d bytes", len(secret), MinSecretBytes)
	}
	if orgID == "" {
		return "", errors.New("minting token: organisation id is empty")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("minting token: ttl %s is not positive", ttl)
	}

	token, err := jwt.NewBuilder().
		Subject(CLISubject).
		IssuedAt(now).
		NotBefore(now).
		Expiration(now.Add(ttl)).
		Claim(orgIDClaim, orgID).
		Build()
	if err != nil {
		return "", fmt.Errorf("minting token: building claims: %w", err)
	}

	signed, err := jwt.Sign(token, jwt.WithKey(jwa.HS256, secret))
	if err != nil {
		return "", fmt.Errorf("minting token: signing: %w", err)
	}

	return string(signed), nil
}

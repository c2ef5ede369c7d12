package auth

import "strings"

// bearerScheme is the HTTP authentication scheme of RFC 6750, matched
// case-insensitively as RFC 9110 section 11.1 requires.
const bearerScheme = "Bearer"

// BearerToken extracts the token from an Authorization header value of the
// form "Bearer <token>": the scheme in any case, one space, and one token of
// token68 characters (RFC 9110 section 11.2). Anything else returns an error
// that wraps ErrInvalidToken; the error never quotes the header.
func BearerToken(header string) (string, error) {
	if header == "" {
		return "", invalidToken("Authorization header is missing")
	}

	scheme, token, found := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, bearerScheme) {
		return "", invalidToken("Authorization scheme is not Bearer")
	}
	if !found || token == "" {
		return "", invalidToken("bearer token is empty")
	}
	if strings.ContainsAny(token, " \t") {
		return "", invalidToken("Authorization header has more than one bearer token")
	}
	if !isToken68(token) {
		return "", invalidToken("bearer token contains characters outside the token68 syntax")
	}

	return token, nil
}

// isToken68 reports whether s matches the token68 rule of RFC 9110:
// letters, digits and "-._~+/" followed by optional "=" padding.
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}

	for _, r := range body {
		isAlphanumeric := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !isAlphanumeric && !strings.ContainsRune("-._~+/", r) {
			return false
		}
	}

	return true
}

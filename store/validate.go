package store

import (
	"regexp"
	"slices"
)

// CloudProviders lists the supported cloud providers. Callers must not
// modify it.
var CloudProviders = []string{"aws", "azure", "gcp", "oracle"}

// The identifier rules, shared by the fixture loader and the HTTP layer's
// request checks. Each pattern is anchored and bounds the length.
var (
	orgIDPattern               = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	configIDPattern            = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	cloudOrganizationIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,255}$`)
	regionPattern              = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// Descriptions of the rules above, for error messages.
const (
	orgIDRule               = "1-128 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
	configIDRule            = "1-128 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
	cloudOrganizationIDRule = "1-255 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
	regionRule              = "1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
	cloudProviderRule       = "one of aws, azure, gcp, oracle"
)

// ValidOrgID reports whether s is a valid organisation id: 1-128 characters
// of [A-Za-z0-9._-].
func ValidOrgID(s string) bool {
	return orgIDPattern.MatchString(s)
}

// ValidConfigID reports whether s is a valid scanner configuration id: 1-128
// characters of [A-Za-z0-9._-].
func ValidConfigID(s string) bool {
	return configIDPattern.MatchString(s)
}

// ValidCloudOrganizationID reports whether s is a valid cloud organisation id:
// 1-255 characters of [A-Za-z0-9._:-].
func ValidCloudOrganizationID(s string) bool {
	return cloudOrganizationIDPattern.MatchString(s)
}

// ValidRegion reports whether s is a valid region name: 1-64 characters of
// [A-Za-z0-9._-].
func ValidRegion(s string) bool {
	return regionPattern.MatchString(s)
}

// ValidCloudProvider reports whether s is one of CloudProviders.
func ValidCloudProvider(s string) bool {
	return slices.Contains(CloudProviders, s)
}

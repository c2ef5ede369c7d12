package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// MaxNameLength is the longest job id the service issues. Job ids are also
// Argo Workflow names, and Argo rejects workflow names longer than 63
// characters because it derives pod names and label values from them.
const MaxNameLength = 63

// hashSuffixLength is the number of hex digits of SHA-256 appended to an id
// part that had to be changed, so that distinct raw ids never collide.
const hashSuffixLength = 8

// unixDigits is the width reserved for the Unix-seconds suffix of job ids
// (10 digits cover times until the year 2286).
const unixDigits = 10

// Job id prefixes. Batch parents share the prefix of their children.
const (
	PrefixRemove     = "rm-scan"
	PrefixReinstall  = "ri-scan"
	PrefixUninstall  = "un-scan"
	PrefixRemoveOrg  = "rm-org"
	PrefixRemoveProv = "rm-cp"
)

// SafeName turns an arbitrary id into a lowercase string of [a-z0-9-] that
// starts and ends with an alphanumeric character and is at most max
// characters long. An id that is already in that form and fits is returned
// unchanged. Any other id is cleaned, truncated and suffixed with "-" and
// the first 8 hex digits of the SHA-256 of the raw id, so `CFG_1` and
// `cfg-1` get different names. An id that merely looks like such a result
// (it ends in "-" and 8 hex digits) is hashed too, so that it cannot equal
// the cleaned form of another id. The result is deterministic.
func SafeName(id string, max int) string {
	if isSafe(id) && len(id) <= max && !hashSuffix.MatchString(id) {
		return id
	}

	var b strings.Builder
	lastDash := true // suppresses a leading dash and repeated dashes
	for _, r := range strings.ToLower(id) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			lastDash = false
		case !lastDash:
			b.WriteByte('-')
			lastDash = true
		}
	}

	sum := sha256.Sum256([]byte(id))
	suffix := hex.EncodeToString(sum[:])[:hashSuffixLength]
	keep := max - hashSuffixLength - 1
	if keep < 0 {
		keep = 0
	}
	cleaned := strings.Trim(b.String(), "-")
	if len(cleaned) > keep {
		cleaned = strings.TrimRight(cleaned[:keep], "-")
	}
	if cleaned == "" {
		return suffix
	}
	return cleaned + "-" + suffix
}

// hashSuffix matches the "-<8 hex digits>" that SafeName appends.
var hashSuffix = regexp.MustCompile(`-[0-9a-f]{8}$`)

func isSafe(id string) bool {
	if id == "" || id[0] == '-' || id[len(id)-1] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ScannerJobID builds the job id of a leaf operation on one scanner:
// `<prefix>-<configId>-<unix>`, with the config id made safe and short
// enough that the whole id fits MaxNameLength. attempt > 0 appends
// `-<attempt>` to tell apart two jobs of one operation and config created in
// the same second.
func ScannerJobID(op Operation, configID string, at time.Time, attempt int) string {
	return timedID(prefixFor(op), configID, at, attempt)
}

// RemoveOrgJobID builds `rm-org-<cloudOrganizationId>-<unix>`.
func RemoveOrgJobID(cloudOrganizationID string, at time.Time, attempt int) string {
	return timedID(PrefixRemoveOrg, cloudOrganizationID, at, attempt)
}

// BatchParentID builds a batch correlation id `<prefix>-<uuid>`.
func BatchParentID(op Operation) string {
	return prefixFor(op) + "-" + uuid.NewString()
}

// RemoveProviderParentID builds `rm-cp-<provider>-<uuid>`.
func RemoveProviderParentID(provider string) string {
	return PrefixRemoveProv + "-" + SafeName(provider, 16) + "-" + uuid.NewString()
}

func timedID(prefix, part string, at time.Time, attempt int) string {
	tail := "-" + strconv.FormatInt(at.Unix(), 10)
	reserve := len(prefix) + 1 + 1 + unixDigits
	if attempt > 0 {
		tail += "-" + strconv.Itoa(attempt)
		reserve += 1 + len(strconv.Itoa(attempt))
	}
	return prefix + "-" + SafeName(part, MaxNameLength-reserve) + tail
}

func prefixFor(op Operation) string {
	switch op {
	case OperationReinstall:
		return PrefixReinstall
	case OperationUninstall:
		return PrefixUninstall
	default:
		return PrefixRemove
	}
}

package workflows

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestSafeNameKeepsSafeIDs(t *testing.T) {
	for _, id := range []string{"cfg-scanner-001", "o-abc123xyz", "a", "ucsc-adc88239e1868737"} {
		if got := SafeName(id, 63); got != id {
			t.Errorf("SafeName(%q) = %q, want it unchanged", id, got)
		}
	}
}

func TestSafeNameDistinguishesCaseAndPunctuation(t *testing.T) {
	ids := []string{"cfg-1", "CFG_1", "cfg_1", "Cfg-1", "cfg.1", "cfg--1", "-cfg-1", "cfg-1-"}
	seen := map[string]string{}
	for _, id := range ids {
		got := SafeName(id, 40)
		if !dnsLabel.MatchString(got) {
			t.Errorf("SafeName(%q) = %q, not a DNS label", id, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("SafeName(%q) = SafeName(%q) = %q", id, other, got)
		}
		seen[got] = id
		if again := SafeName(id, 40); again != got {
			t.Errorf("SafeName(%q) not deterministic: %q then %q", id, got, again)
		}
	}
}

func TestSafeNameTruncatesLongIDs(t *testing.T) {
	long := strings.Repeat("a", 128)
	got := SafeName(long, 40)
	if len(got) > 40 || !dnsLabel.MatchString(got) {
		t.Fatalf("SafeName(128 chars, 40) = %q (%d chars)", got, len(got))
	}
	if SafeName(long+"b", 40) == got {
		t.Errorf("two long ids that differ at the end got the same name %q", got)
	}
}

func TestSafeNameOfPunctuationOnly(t *testing.T) {
	got := SafeName("._-", 63)
	if !dnsLabel.MatchString(got) {
		t.Fatalf("SafeName(%q) = %q, not a DNS label", "._-", got)
	}
}

func TestScannerJobIDShapes(t *testing.T) {
	at := time.Unix(1733980800, 0)
	cases := []struct {
		op      Operation
		config  string
		attempt int
		want    string
	}{
		{OperationRemove, "cfg-scanner-123", 0, "rm-scan-cfg-scanner-123-1733980800"},
		{OperationReinstall, "cfg-scanner-123", 0, "ri-scan-cfg-scanner-123-1733980800"},
		{OperationUninstall, "cfg-scanner-123", 0, "un-scan-cfg-scanner-123-1733980800"},
		{OperationRemove, "cfg-scanner-123", 2, "rm-scan-cfg-scanner-123-1733980800-2"},
	}
	for _, c := range cases {
		if got := ScannerJobID(c.op, c.config, at, c.attempt); got != c.want {
			t.Errorf("ScannerJobID(%s, %q, %d) = %q, want %q", c.op, c.config, c.attempt, got, c.want)
		}
	}
	if got := RemoveOrgJobID("o-abc123xyz", time.Unix(1733981200, 0), 0); got != "rm-org-o-abc123xyz-1733981200" {
		t.Errorf("RemoveOrgJobID = %q", got)
	}
}

func TestJobIDsFitWorkflowNames(t *testing.T) {
	at := time.Unix(4102444800, 0) // 2100-01-01
	for _, id := range []string{strings.Repeat("X", 128), "ocid1.tenancy.oc1..aaaaaaaabbbbbbbbccccccccddddddddeeeeeeeeffffffff"} {
		for attempt := 0; attempt < 12; attempt++ {
			name := ScannerJobID(OperationReinstall, id, at, attempt)
			if len(name) > MaxNameLength || !dnsLabel.MatchString(name) {
				t.Errorf("ScannerJobID(%q, attempt %d) = %q (%d chars)", id, attempt, name, len(name))
			}
			org := RemoveOrgJobID(id, at, attempt)
			if len(org) > MaxNameLength || !dnsLabel.MatchString(org) {
				t.Errorf("RemoveOrgJobID(%q, attempt %d) = %q (%d chars)", id, attempt, org, len(org))
			}
		}
	}
	if p := BatchParentID(OperationRemove); !strings.HasPrefix(p, "rm-scan-") || len(p) != len("rm-scan-")+36 {
		t.Errorf("BatchParentID = %q", p)
	}
	if p := RemoveProviderParentID("aws"); !strings.HasPrefix(p, "rm-cp-aws-") || len(p) > MaxNameLength {
		t.Errorf("RemoveProviderParentID = %q", p)
	}
}

func TestSafeNameNeverEqualsAnotherIDsCleanedForm(t *testing.T) {
	cleaned := SafeName("_abc", 63)
	if lookalike := SafeName(cleaned, 63); lookalike == cleaned {
		t.Errorf("SafeName(%q) = SafeName(%q) = %q", cleaned, "_abc", cleaned)
	}
	if got := SafeName("ucsc-adc88239e1868737", 63); got != "ucsc-adc88239e1868737" {
		t.Errorf("an id ending in 16 hex digits was changed to %q", got)
	}
}

package tests

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/server/auth"
)

// testSecret is the ONBOARDING_JWT_SECRET of every server the suite starts.
// It is 40 bytes, above the 32-byte minimum of HS256 secrets.
const testSecret = "black-box-test-secret-0123456789abcdefgh"

// serverBinary is the path of the onboarding-service binary built by
// TestMain.
var serverBinary string

// TestMain builds the service binary once, loads the OpenAPI document used to
// validate responses, runs the tests and removes the binary.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse() // testing.Verbose needs the parsed flags
	dir, err := os.MkdirTemp("", "onboarding-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the directory of the service binary:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	serverBinary = filepath.Join(dir, "onboarding-service")
	if err := buildServer(serverBinary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := loadSpec(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// buildServer compiles ./cmd/onboarding-service of this module into output.
func buildServer(output string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}

	start := time.Now()
	build := exec.Command(goTool, "build", "-o", output, "./cmd/onboarding-service")
	build.Dir = ".." // the module root: this package is its tests/ directory
	out, err := build.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building the service binary failed: %v\n%s", err, out)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "built %s in %s\n", output, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// token returns an HS256 token for orgID signed with testSecret, valid for
// one hour.
func token(t *testing.T, orgID string) string {
	t.Helper()
	signed, err := auth.Mint([]byte(testSecret), orgID, time.Hour, time.Now())
	if err != nil {
		t.Fatalf("minting a token for %s: %v", orgID, err)
	}
	return signed
}

// Organisations of demoFixture.
const (
	demoOrgID  = "org_abc123"
	otherOrgID = "org_other456"
)

// demoFixture is the data every server gets unless ServerOptions.Fixture sets
// another. It holds no simulate blocks, so every workflow succeeds.
//
//   - org_abc123
//   - o-abc123xyz (aws; enabled regions us-east-1, eu-west-1, us-east-2):
//     cfg-scanner-001 (us-east-1), cfg-scanner-002 (eu-west-1),
//     cfg-scanner-123 (us-east-1)
//   - o-def456uvw (aws; us-west-2): cfg-scanner-201 (paused),
//     cfg-scanner-202
//   - 72f988bf-86f1-41af-91ab-2d7cd011db47 (azure; westeurope):
//     cfg-azure-001
//   - org_other456
//   - o-zzz999aaa (aws; ap-southeast-2): cfg-other-001
const demoFixture = `{
  "organizations": [
    {
      "orgId": "org_abc123",
      "cloudOrganizations": [
        {
          "cloudOrganizationId": "o-abc123xyz",
          "cloudProvider": "aws",
          "enabledRegions": ["us-east-1", "eu-west-1", "us-east-2"],
          "credentialsRef": "arn:aws:iam::123456789012:role/scanner-onboarding",
          "scanners": [
            {"configId": "cfg-scanner-001", "region": "us-east-1", "workersPaused": false},
            {"configId": "cfg-scanner-002", "region": "eu-west-1", "workersPaused": false},
            {"configId": "cfg-scanner-123", "region": "us-east-1", "workersPaused": false}
          ]
        },
        {
          "cloudOrganizationId": "o-def456uvw",
          "cloudProvider": "aws",
          "enabledRegions": ["us-west-2"],
          "scanners": [
            {"configId": "cfg-scanner-201", "region": "us-west-2", "workersPaused": true},
            {"configId": "cfg-scanner-202", "region": "us-west-2", "workersPaused": false}
          ]
        },
        {
          "cloudOrganizationId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
          "cloudProvider": "azure",
          "enabledRegions": ["westeurope"],
          "scanners": [
            {"configId": "cfg-azure-001", "region": "westeurope", "workersPaused": false}
          ]
        }
      ]
    },
    {
      "orgId": "org_other456",
      "cloudOrganizations": [
        {
          "cloudOrganizationId": "o-zzz999aaa",
          "cloudProvider": "aws",
          "enabledRegions": ["ap-southeast-2"],
          "scanners": [
            {"configId": "cfg-other-001", "region": "ap-southeast-2", "workersPaused": false}
          ]
        }
      ]
    }
  ]
}`

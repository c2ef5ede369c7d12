package argo

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/scanner-ops/onboarding-service/workflows"
)

const testNamespace = "jobs"

// testBackoff retries quickly so that retry tests take milliseconds.
var testBackoff = wait.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 5}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

// testEngine returns an engine on a fresh fake clientset and the buffer
// its logger writes to.
func testEngine(t *testing.T, cfg Config) (*Engine, *fake.Clientset, *logBuffer) {
	t.Helper()
	client := fake.NewSimpleClientset()
	logs := &logBuffer{}
	if cfg.Namespace == "" {
		cfg.Namespace = testNamespace
	}
	if cfg.SubmitBackoff.Steps == 0 {
		cfg.SubmitBackoff = testBackoff
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewWithClient(client, cfg), client, logs
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func submission(op workflows.Operation, name string) workflows.Submission {
	return workflows.Submission{
		Name:                name,
		Operation:           op,
		OrgID:               "org_abc123",
		ConfigID:            "CFG_1",
		ParentID:            "rm-scan-5f0c8f9e-0d1b-4a53-a1e4-0c5c6f0e2b7d",
		CloudProvider:       "aws",
		CloudOrganizationID: "o-abc123xyz",
		Region:              "us-east-1",
	}
}

// testNow is a fixed time for job ids and node timestamps.
var testNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

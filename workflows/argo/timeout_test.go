package argo

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/workflows"
)

// stalledAPIServer is a Kubernetes API server on loopback that accepts every
// request and sends no response until the test ends.
func stalledAPIServer(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	content := `apiVersion: v1
kind: Config
clusters: [{name: stalled, cluster: {server: "` + srv.URL + `"}}]
users: [{name: nobody, user: {token: none}}]
contexts: [{name: stalled, context: {cluster: stalled, user: nobody}}]
current-context: stalled
`
	if err := os.WriteFile(kubeconfig, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

func TestStalledAPIServerTimesOut(t *testing.T) {
	t.Parallel()
	engine, err := New(Config{
		Kubeconfig:    stalledAPIServer(t),
		Namespace:     testNamespace,
		CallTimeout:   100 * time.Millisecond,
		SubmitTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	calls := map[string]func() error{
		"Status": func() error { _, err := engine.Status(ctx, "rm-scan-cfg-1-1767225600"); return err },
		"Ping":   func() error { return engine.Ping(ctx) },
		"Submit": func() error {
			return engine.Submit(ctx, submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600"))
		},
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if err == nil {
			t.Errorf("%s against a stalled API server succeeded", name)
		}
		if errors.Is(err, workflows.ErrPermanent) {
			t.Errorf("%s: a timeout must stay retryable, got %v", name, err)
		}
		// Generous bound: the point is that the call ends, not how fast.
		if took > 5*time.Second {
			t.Errorf("%s took %s, want it bounded by its timeout", name, took)
		}
	}
}

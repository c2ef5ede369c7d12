package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/workflows"
)

func TestMetricsEndpoint(t *testing.T) {
	var metrics *Metrics
	srv := newTestServer(t, func(d *Deps) {
		metrics = NewMetrics(MetricsSources{Store: d.Store, Logger: discardLogger()})
		metrics.TrackReconciler(fakeReconciler{last: time.Now().Add(-3 * time.Second), errors: 7})
		d.Metrics = metrics
	})

	pause := authorised(t, newRequest(http.MethodPost, "/api/v1/org_abc123/management/pause?config-id=cfg-scanner-001", ""), "org_abc123")
	if rec := srv.serve(pause); rec.Code != http.StatusOK && rec.Code != http.StatusNotFound {
		t.Fatalf("pause: status %d", rec.Code)
	}
	srv.serve(newRequest(http.MethodGet, "/no/such/route", ""))
	srv.serve(newRequest("FOO1", "/healthz", ""))
	metrics.ObserveLockWait(2*time.Millisecond, nil)
	metrics.ObserveLockWait(time.Second, workflows.ErrLockUnavailable)
	metrics.ObserveLockWait(10*time.Second, workflows.ErrLockNotObtained)

	rec := srv.serve(newRequest(http.MethodGet, "/metrics", ""))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`onboarding_http_requests_total{code="`,
		`route="/api/v1/:orgID/management/pause"`,
		`route="unmatched"`,
		`onboarding_http_request_duration_seconds_bucket{`,
		`onboarding_jobs{status="pending"} 0`,
		`onboarding_jobs{status="succeeded"} 0`,
		`onboarding_queued_actions 0`,
		`onboarding_oldest_unfinished_job_age_seconds 0`,
		`onboarding_lock_wait_seconds_count{outcome="obtained"} 1`,
		`onboarding_lock_wait_seconds_count{outcome="unavailable"} 1`,
		`onboarding_lock_wait_seconds_count{outcome="timeout"} 1`,
		`onboarding_reconciler_lag_seconds 3`,
		`onboarding_reconciler_errors_total 7`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(body, `method="other"`) || strings.Contains(body, "FOO1") {
		t.Error("/metrics does not fold an unknown method into method=\"other\"")
	}
	if strings.Contains(body, "/no/such/route") {
		t.Error("/metrics has a series for an unknown path")
	}
}

type fakeReconciler struct {
	last   time.Time
	errors uint64
}

func (f fakeReconciler) LastPass() time.Time { return f.last }
func (f fakeReconciler) Errors() uint64      { return f.errors }

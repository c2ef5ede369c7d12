package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
	"github.com/scanner-ops/onboarding-service/store"
)

// benchScanners seeds n scanners of org_abc123 and returns a batch body
// naming all of them.
func benchScanners(b *testing.B, st *store.Store, n int) string {
	b.Helper()
	scanners := make([]store.FixtureScanner, n)
	items := make([]api.BatchScannerItem, n)
	for i := range scanners {
		id := fmt.Sprintf("cfg-bench-%04d", i)
		scanners[i] = store.FixtureScanner{ConfigID: id, Region: "us-east-1"}
		items[i] = api.BatchScannerItem{ConfigID: id, CloudProvider: "aws"}
	}
	fixture := store.Fixture{Organizations: []store.FixtureOrganization{{
		OrgID: "org_abc123",
		CloudOrganizations: []store.FixtureCloudOrganization{{
			CloudOrganizationID: "o-bench", CloudProvider: "aws", EnabledRegions: []string{"us-east-1"},
			Scanners: scanners,
		}},
	}}}
	if _, err := st.Seed(context.Background(), fixture); err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(api.BatchScannerRequest{Scanners: items})
	if err != nil {
		b.Fatal(err)
	}
	return string(body)
}

// BenchmarkBatchPause measures one batch pause of 1000 scanners through the
// whole HTTP stack (auth, validation, handler, SQLite).
func BenchmarkBatchPause(b *testing.B) {
	var st *store.Store
	srv := newTestServer(b, func(d *Deps) { st = d.Store })
	body := benchScanners(b, st, 1000)

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		path := "/api/v1/org_abc123/scanner/batch/pause"
		if i%2 == 1 {
			path = "/api/v1/org_abc123/scanner/batch/unpause"
		}
		rec := srv.serve(authorised(b, newRequest(http.MethodPost, path, body), "org_abc123"))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkListJobsByParent measures the status poll of a batch of 1000
// jobs, the largest listing a batch produces.
func BenchmarkListJobsByParent(b *testing.B) {
	var st *store.Store
	srv := newTestServer(b, func(d *Deps) { st = d.Store })
	ctx := context.Background()

	const parent = "rm-scan-bench"
	if err := st.CreateParentOperation(ctx, store.ParentOperation{ID: parent, OrgID: "org_abc123", Kind: "batch-remove", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		now := time.Now()
		job := store.Job{ID: fmt.Sprintf("rm-scan-cfg-bench-%04d-1796400000", i), Operation: store.OperationRemove,
			OrgID: "org_abc123", ParentID: parent, ConfigID: fmt.Sprintf("cfg-bench-%04d", i), CloudProvider: "aws",
			Region: "us-east-1", Status: store.JobSucceeded, CurrentStep: "post-status", CreatedAt: now, UpdatedAt: now}
		if err := st.CreateJob(ctx, job); err != nil {
			b.Fatal(err)
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := srv.serve(authorised(b, newRequest(http.MethodGet, "/api/v1/jobs?parent-id="+parent, ""), "org_abc123"))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

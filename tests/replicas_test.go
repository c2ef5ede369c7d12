package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

const redisURLEnv = "ONBOARDING_TEST_REDIS_URL"

// replicaFixture holds org_abc123 with 5 scanners for the concurrency test
// and 50 for the crash test, all in one cloud organisation.
func replicaFixture() string {
	type scanner struct {
		ConfigID string `json:"configId"`
		Region   string `json:"region"`
	}
	scanners := []scanner{}
	for i := 0; i < 5; i++ {
		scanners = append(scanners, scanner{fmt.Sprintf("cfg-busy-%d", i), "us-east-1"})
	}
	for i := 0; i < 50; i++ {
		scanners = append(scanners, scanner{fmt.Sprintf("cfg-batch-%02d", i), "us-east-1"})
	}
	fixture := map[string]any{"organizations": []any{map[string]any{
		"orgId": demoOrgID,
		"cloudOrganizations": []any{map[string]any{
			"cloudOrganizationId": "o-replicas",
			"cloudProvider":       "aws",
			"enabledRegions":      []string{"us-east-1"},
			"scanners":            scanners,
		}},
	}}}
	data, err := json.Marshal(fixture)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// replicaEnv configures a replica for PostgreSQL and Redis with a lease
// short enough for takeovers to happen within the test.
func replicaEnv(redisURL string) map[string]string {
	return map[string]string{
		"ONBOARDING_REDIS_URL": redisURL,
		"ONBOARDING_LEASE_TTL": "2s",
	}
}

func requireReplicaBackends(t *testing.T) string {
	t.Helper()
	redisURL := os.Getenv(redisURLEnv)
	if os.Getenv(postgresURLEnv) == "" || redisURL == "" {
		t.Skipf("several replicas need PostgreSQL and Redis: set %s and %s", postgresURLEnv, redisURLEnv)
	}
	return redisURL
}

// listConfigJobs lists a config's jobs, newest first.
func listConfigJobs(t *testing.T, client *api.ClientWithResponses, configID string) api.JobList {
	t.Helper()
	limit := 1000
	resp, err := client.ListJobsWithResponse(context.Background(), &api.ListJobsParams{ConfigID: &configID, Limit: &limit})
	if err != nil {
		t.Fatalf("listing jobs of %s: %v", configID, err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("listing jobs of %s: status %d: %s", configID, resp.StatusCode(), resp.Body)
	}
	return *resp.JSON200
}

func TestReplicasShareWork(t *testing.T) {
	requireLocalEngine(t)
	redisURL := requireReplicaBackends(t)

	a := startServer(t, ServerOptions{Backend: BackendPostgres, Fixture: replicaFixture(),
		StepDelay: 40 * time.Millisecond, Env: replicaEnv(redisURL)})
	b := startServer(t, ServerOptions{Backend: BackendPostgres, DatabaseURL: a.DatabaseURL, Fixture: "-",
		StepDelay: 40 * time.Millisecond, Env: replicaEnv(redisURL)})
	clients := []*api.ClientWithResponses{a.Client(t, demoOrgID), b.Client(t, demoOrgID)}

	t.Run("concurrent reinstalls keep one workflow per config", func(t *testing.T) {
		configs := []string{"cfg-busy-0", "cfg-busy-1", "cfg-busy-2", "cfg-busy-3", "cfg-busy-4"}

		// Sample every config's jobs while the requests run: at no moment
		// may a config have two unfinished jobs.
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		maxActive := map[string]int{}
		go func() {
			defer sampler.Done()
			for {
				for _, id := range configs {
					active := 0
					for _, job := range listConfigJobs(t, clients[0], id).Jobs {
						if job.Status == api.JobStatePending || job.Status == api.JobStateRunning {
							active++
						}
					}
					maxActive[id] = max(maxActive[id], active)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()

		var wg sync.WaitGroup
		statuses := make([]int, 100)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				configID := configs[i%len(configs)]
				resp, err := clients[i%2].ReinstallScannerWithResponse(context.Background(), demoOrgID,
					&api.ReinstallScannerParams{ConfigID: configID})
				if err != nil {
					t.Errorf("reinstall %d of %s: %v", i, configID, err)
					return
				}
				statuses[i] = resp.StatusCode()
			}()
		}
		wg.Wait()
		for i, status := range statuses {
			if status != http.StatusOK {
				t.Errorf("reinstall %d answered %d, want 200", i, status)
			}
		}

		for _, id := range configs {
			waitFor(t, 60*time.Second, "reinstalls of "+id+" to finish", func() (bool, error) {
				list := listConfigJobs(t, clients[1], id)
				return list.Summary.Running == 0, fmt.Errorf("summary %+v", list.Summary)
			})
		}
		close(stop)
		sampler.Wait()

		// Every accepted request either started a job or queued the
		// reinstall, and every queued reinstall that did not coalesce
		// into another became exactly one job later.
		started, queued, coalesced := reinstallOutcomes(t, a, b)
		if started+queued+coalesced != 100 {
			t.Errorf("request logs show %d started, %d queued and %d coalesced reinstalls, want 100 in all",
				started, queued, coalesced)
		}
		jobs := 0
		for _, id := range configs {
			jobs += len(listConfigJobs(t, clients[0], id).Jobs)
		}
		if jobs != started+queued {
			t.Errorf("%d jobs exist, want %d started plus %d dispatched from the queue", jobs, started, queued)
		}

		for _, id := range configs {
			if maxActive[id] > 1 {
				t.Errorf("%s had %d unfinished jobs at once", id, maxActive[id])
			}
			jobs := listConfigJobs(t, clients[0], id).Jobs
			if len(jobs) < 1 || len(jobs) > 20 {
				t.Errorf("%s has %d jobs for 20 requests, want between 1 and 20", id, len(jobs))
			}
			assertSequential(t, id, jobs)
		}
	})

	t.Run("a replica killed during a batch loses no job", func(t *testing.T) {
		batch := api.BatchScannerRequest{}
		for i := 0; i < 50; i++ {
			batch.Scanners = append(batch.Scanners, api.BatchScannerItem{ConfigID: fmt.Sprintf("cfg-batch-%02d", i), CloudProvider: "aws"})
		}
		resp, err := clients[0].BatchRemoveScannersWithResponse(context.Background(), demoOrgID, batch)
		if err != nil {
			t.Fatal(err)
		}
		if resp.JSON202 == nil {
			t.Fatalf("batch remove: status %d: %s", resp.StatusCode(), resp.Body)
		}
		parentID := resp.JSON202.JobID
		for i, r := range resp.JSON202.JobInfo.Results {
			if !r.Success {
				t.Errorf("item %d (%s) was not dispatched: %v", i, r.ConfigID, deref(r.Error))
			}
		}

		waitFor(t, 30*time.Second, "a removal to be running", func() (bool, error) {
			list := listParentJobs(t, clients[1], parentID)
			return list.Summary.Completed < 50 && list.Summary.Running > 0, fmt.Errorf("summary %+v", list.Summary)
		})
		a.Kill(t)
		restarted := startServer(t, ServerOptions{Backend: BackendPostgres, DatabaseURL: a.DatabaseURL, Fixture: "-",
			StepDelay: 40 * time.Millisecond, Env: replicaEnv(redisURL)})

		var list api.JobList
		waitFor(t, 90*time.Second, "every removal of the batch to finish", func() (bool, error) {
			list = listParentJobs(t, clients[1], parentID)
			return list.Summary.Running == 0, fmt.Errorf("summary %+v", list.Summary)
		})
		if list.Summary.Total != 50 || list.Summary.Completed != 50 || list.Summary.Failed != 0 {
			t.Errorf("batch summary = %+v, want 50 jobs, all succeeded", list.Summary)
		}
		seen := map[string]int{}
		for _, job := range list.Jobs {
			seen[deref(job.ConfigID)]++
		}
		for i := 0; i < 50; i++ {
			id := fmt.Sprintf("cfg-batch-%02d", i)
			if seen[id] != 1 {
				t.Errorf("%s has %d removal jobs in the batch, want 1", id, seen[id])
			}
		}

		cloudOrg := "o-replicas"
		scanners, err := restarted.Client(t, demoOrgID).ListScannersWithResponse(context.Background(), demoOrgID,
			&api.ListScannersParams{CloudOrganizationID: &cloudOrg})
		if err != nil || scanners.JSON200 == nil {
			t.Fatalf("listing scanners: %v", err)
		}
		for _, s := range scanners.JSON200.Scanners {
			if strings.HasPrefix(s.ConfigID, "cfg-batch-") {
				t.Errorf("scanner %s survived its removal", s.ConfigID)
			}
		}
	})

	t.Run("unreachable Redis answers 503", func(t *testing.T) {
		closed := closedPortURL(t)
		c := startServer(t, ServerOptions{Backend: BackendPostgres, DatabaseURL: b.DatabaseURL, Fixture: "-",
			Env: map[string]string{"ONBOARDING_REDIS_URL": closed, "ONBOARDING_LEASE_TTL": "2s"}})
		c.AllowServerErrors()
		before := len(listConfigJobs(t, clients[1], "cfg-busy-0").Jobs)

		resp, err := c.Client(t, demoOrgID).ReinstallScannerWithResponse(context.Background(), demoOrgID,
			&api.ReinstallScannerParams{ConfigID: "cfg-busy-0"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != http.StatusServiceUnavailable || resp.JSON503 == nil || resp.JSON503.Error == "" {
			t.Fatalf("reinstall without Redis: status %d, body %s; want 503 with an error", resp.StatusCode(), resp.Body)
		}
		if got := resp.HTTPResponse.Header.Get("Retry-After"); got != "30" {
			t.Errorf("Retry-After = %q, want 30", got)
		}
		if after := len(listConfigJobs(t, clients[1], "cfg-busy-0").Jobs); after != before {
			t.Errorf("a rejected reinstall left %d new jobs", after-before)
		}

		parentsBefore := len(listConfigJobs(t, clients[1], "cfg-busy-1").Jobs)
		batch, err := c.Client(t, demoOrgID).BatchReinstallScannersWithResponse(context.Background(), demoOrgID,
			api.BatchScannerRequest{Scanners: []api.BatchScannerItem{{ConfigID: "cfg-busy-1", CloudProvider: "aws"}}})
		if err != nil {
			t.Fatal(err)
		}
		if batch.StatusCode() != http.StatusServiceUnavailable || batch.JSON503 == nil {
			t.Errorf("batch reinstall without Redis: status %d, body %s; want 503", batch.StatusCode(), batch.Body)
		}
		if after := len(listConfigJobs(t, clients[1], "cfg-busy-1").Jobs); after != parentsBefore {
			t.Errorf("a rejected batch left %d new jobs", after-parentsBefore)
		}

		ready, err := c.Client(t, demoOrgID).GetReadyzWithResponse(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ready.StatusCode() != http.StatusServiceUnavailable || ready.JSON503 == nil || ready.JSON503.Checks == nil ||
			(*ready.JSON503.Checks)["locks"] == "ok" {
			t.Errorf("readyz without Redis: status %d, body %s; want 503 naming locks", ready.StatusCode(), ready.Body)
		}
	})
}

// reinstallOutcomes counts, over the request logs of servers, the
// successful management reinstall requests that started a job, that queued
// the reinstall, and that coalesced into a reinstall already queued.
func reinstallOutcomes(t *testing.T, servers ...*Server) (started, queued, coalesced int) {
	t.Helper()
	for _, s := range servers {
		for _, line := range s.Logs.Lines() {
			if line["msg"] != "request" || line["route"] != "/api/v1/:orgID/management/reinstall" || line["status"] != float64(http.StatusOK) {
				continue
			}
			switch {
			case line["job_id"] != nil:
				started++
			case line["coalesced"] == true:
				coalesced++
			case line["queued"] == true:
				queued++
			default:
				t.Errorf("reinstall request log without an outcome: %v", line)
			}
		}
	}
	return started, queued, coalesced
}

// assertSequential checks that a config's jobs never overlapped: each job
// was created after the previous one had finished.
func assertSequential(t *testing.T, configID string, jobs []api.JobStatus) {
	t.Helper()
	sorted := append([]api.JobStatus(nil), jobs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].CreatedAt.Before(sorted[j].CreatedAt) })
	for i, job := range sorted {
		if job.Status != api.JobStateSucceeded {
			t.Errorf("%s job %s ended %s: %v", configID, job.WorkflowName, job.Status, deref(job.Error))
		}
		if i > 0 && job.CreatedAt.Before(sorted[i-1].UpdatedAt) {
			t.Errorf("%s: job %s started at %s, before job %s finished at %s", configID,
				job.WorkflowName, job.CreatedAt, sorted[i-1].WorkflowName, sorted[i-1].UpdatedAt)
		}
	}
}

func listParentJobs(t *testing.T, client *api.ClientWithResponses, parentID string) api.JobList {
	t.Helper()
	resp, err := client.ListJobsWithResponse(context.Background(), &api.ListJobsParams{ParentID: &parentID})
	if err != nil {
		t.Fatalf("listing jobs of %s: %v", parentID, err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("listing jobs of %s: status %d: %s", parentID, resp.StatusCode(), resp.Body)
	}
	return *resp.JSON200
}

// closedPortURL returns a redis:// URL of a loopback port nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "redis://" + addr + "/0"
}

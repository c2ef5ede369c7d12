package tests

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

func TestAsyncRemoveScanner(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("runs to succeeded and deletes the config", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			sent := time.Now()
			resp := removeScanner(t, c, "cfg-scanner-123")
			received := time.Now()
			wantStatus(t, "POST scanner/remove", resp.HTTPResponse, resp.Body, http.StatusAccepted)

			accepted := resp.JSON202
			jobID := accepted.JobID
			if !regexp.MustCompile(`^rm-scan-cfg-scanner-123-[0-9]{10}$`).MatchString(jobID) {
				t.Errorf("jobId = %q, want rm-scan-cfg-scanner-123-<unix seconds>", jobID)
			}
			checkJobIDTime(t, jobID, sent, received)
			if want := "/api/v1/jobs/" + jobID; accepted.StatusURL != want {
				t.Errorf("statusUrl = %q, want %q", accepted.StatusURL, want)
			}
			wantHeader(t, "POST scanner/remove", resp.HTTPResponse, "Location", "/api/v1/jobs/"+jobID)
			wantHeader(t, "POST scanner/remove", resp.HTTPResponse, "Retry-After", "30")
			if accepted.JobInfo == nil || len(*accepted.JobInfo) != 0 {
				t.Errorf("jobInfo = %v, want {}", accepted.JobInfo)
			}

			job := awaitJob(t, c, jobID)
			checkJob(t, job, jobWant{
				ID:          regexp.MustCompile("^" + regexp.QuoteMeta(jobID) + "$"),
				Operation:   api.Remove,
				Status:      api.JobStateSucceeded,
				ConfigID:    "cfg-scanner-123",
				Region:      "us-east-1",
				CurrentStep: stepPostStatus,
			})

			wantScannerGone(t, c, "cfg-scanner-123")
			again := removeScanner(t, c, "cfg-scanner-123")
			wantError(t, "removing a removed config", again.HTTPResponse, again.Body, http.StatusNotFound, "Config not found")
		})

		t.Run("unknown config is 404", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			resp := removeScanner(t, c, "cfg-does-not-exist")
			wantError(t, "removing an unknown config", resp.HTTPResponse, resp.Body, http.StatusNotFound, "Config not found")
		})

		t.Run("provider mismatch is 400 and changes nothing", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			resp, err := c.RemoveScannerWithResponse(t.Context(), orgABC, api.ScannerRequest{ConfigID: "cfg-scanner-001", CloudProvider: api.Azure})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, "removing an aws config as azure", resp.HTTPResponse, resp.Body, http.StatusBadRequest,
				"cfg-scanner-001", "azure", "aws")

			wantScannerState(t, c, "cfg-scanner-001", api.ScannerStateInstalled)
			list := listJobs(t, c, configJobs("cfg-scanner-001"))
			if list.Summary.Total != 0 {
				t.Errorf("a rejected removal created jobs: %s", describeSummary(list.Summary))
			}
		})
	})
}

func TestAsyncRemoveBusyScanner(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, StepDelay: busyStepDelay})

		t.Run("second removal is 409 naming the running job", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			first := startRemoval(t, c, "cfg-scanner-123")

			resp := removeScanner(t, c, "cfg-scanner-123")
			e := wantError(t, "removing a config being removed", resp.HTTPResponse, resp.Body, http.StatusConflict, first)
			if deref(e.JobID) != first {
				t.Errorf("409 jobId = %q, want the running job %q", deref(e.JobID), first)
			}
			wantHeader(t, "409 response", resp.HTTPResponse, "Retry-After", "30")

			job := awaitJob(t, c, first)
			if job.Status != api.JobStateSucceeded {
				t.Errorf("the first removal ended %s (error %q), want succeeded", job.Status, deref(job.Error))
			}
			list := listJobs(t, c, configJobs("cfg-scanner-123"))
			if list.Summary.Total != 1 {
				t.Errorf("config has %d jobs after a rejected second removal, want 1", list.Summary.Total)
			}
		})

		t.Run("removal during a reinstall is 409 naming the reinstall", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			manage(t, c, api.Reinstall, "cfg-scanner-001")
			running := activeJob(t, c, "cfg-scanner-001")

			resp := removeScanner(t, c, "cfg-scanner-001")
			e := wantError(t, "removing a config being reinstalled", resp.HTTPResponse, resp.Body, http.StatusConflict, running.WorkflowName)
			if deref(e.JobID) != running.WorkflowName {
				t.Errorf("409 jobId = %q, want the reinstall job %q", deref(e.JobID), running.WorkflowName)
			}

			awaitJobs(t, c, configJobs("cfg-scanner-001"), 1)
			wantScannerState(t, c, "cfg-scanner-001", api.ScannerStateInstalled)
		})
	})
}

func TestAsyncManagementOperations(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("uninstall then reinstall change the state", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			const configID = "cfg-scanner-001"
			manage(t, c, api.Uninstall, configID)
			list := awaitJobs(t, c, configJobs(configID), 1)
			wantSummary(t, "after uninstall", list.Summary, 1, 1, 0)
			if list.ConfigID == nil || *list.ConfigID != configID {
				t.Errorf("listing configId = %v, want %s", list.ConfigID, configID)
			}
			checkJob(t, list.Jobs[0], jobWant{
				ID:          timedJobIDPattern(prefixUninstall, configID),
				Operation:   api.Uninstall,
				Status:      api.JobStateSucceeded,
				ConfigID:    configID,
				Region:      "us-east-1",
				CurrentStep: stepPostStatus,
			})
			wantScannerState(t, c, configID, api.ScannerStateUninstalled)

			manage(t, c, api.Reinstall, configID)
			list = awaitJobs(t, c, configJobs(configID), 2)
			wantSummary(t, "after reinstall", list.Summary, 2, 2, 0)
			// Newest first: the reinstall, then the uninstall.
			checkJob(t, list.Jobs[0], jobWant{
				ID:          timedJobIDPattern(prefixReinstall, configID),
				Operation:   api.Reinstall,
				Status:      api.JobStateSucceeded,
				ConfigID:    configID,
				Region:      "us-east-1",
				CurrentStep: stepPostStatus,
			})
			if list.Jobs[1].Operation == nil || *list.Jobs[1].Operation != api.Uninstall {
				t.Errorf("second listed job is %v, want the older uninstall", list.Jobs[1].Operation)
			}
			wantScannerState(t, c, configID, api.ScannerStateInstalled)
		})

		t.Run("unknown config is 404", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			params := api.ReinstallScannerParams{ConfigID: "cfg-does-not-exist"}
			re, err := c.ReinstallScannerWithResponse(t.Context(), orgABC, &params)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, "reinstalling an unknown config", re.HTTPResponse, re.Body, http.StatusNotFound, "Config not found")

			un, err := c.UninstallScannerWithResponse(t.Context(), orgABC, &api.UninstallScannerParams{ConfigID: "cfg-does-not-exist"})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, "uninstalling an unknown config", un.HTTPResponse, un.Body, http.StatusNotFound, "Config not found")
		})
	})
}

func TestAsyncRetries(t *testing.T) {
	t.Parallel()
	fixture := demoFixtureWith(t, func(f *seedFixture) {
		f.scanner(t, "cfg-scanner-001").Simulate = &seedSimulation{FailAtStep: stepAwaitingStackDeleted, Failures: 2}
		f.scanner(t, "cfg-scanner-002").Simulate = &seedSimulation{FailAtStep: stepAwaitingStackDeleted, Failures: 5}
	})

	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, Fixture: fixture})

		t.Run("failures within the retries succeed", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			job := awaitJob(t, c, startRemoval(t, c, "cfg-scanner-001"))
			checkJob(t, job, jobWant{
				Operation:    api.Remove,
				Status:       api.JobStateSucceeded,
				ConfigID:     "cfg-scanner-001",
				Region:       "us-east-1",
				CurrentStep:  stepPostStatus,
				RetryAttempt: 2,
			})
			wantScannerGone(t, c, "cfg-scanner-001")
		})

		t.Run("failures past the retries fail the job and the config", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			manage(t, c, api.Reinstall, "cfg-scanner-002")
			list := awaitJobs(t, c, configJobs("cfg-scanner-002"), 1)
			wantSummary(t, "failed reinstall", list.Summary, 1, 0, 1)
			job := list.Jobs[0]
			checkJob(t, job, jobWant{
				Operation:    api.Reinstall,
				Status:       api.JobStateFailed,
				ConfigID:     "cfg-scanner-002",
				Region:       "eu-west-1",
				CurrentStep:  stepAwaitingStackDeleted,
				RetryAttempt: 3,
			})
			if !strings.Contains(deref(job.Error), stepAwaitingStackDeleted) {
				t.Errorf("job error %q does not name the failing step %s", deref(job.Error), stepAwaitingStackDeleted)
			}

			scanner := wantScannerState(t, c, "cfg-scanner-002", api.ScannerStateFailed)
			if !strings.Contains(deref(scanner.LastError), stepAwaitingStackDeleted) {
				t.Errorf("scanner lastError %q does not name the failing step", deref(scanner.LastError))
			}
		})
	})
}

func TestAsyncRetriesSetting(t *testing.T) {
	requireLocalEngine(t)
	t.Parallel()
	fixture := demoFixtureWith(t, func(f *seedFixture) {
		f.scanner(t, "cfg-scanner-002").Simulate = &seedSimulation{FailAtStep: "create-stack", Failures: 5}
		f.scanner(t, "cfg-scanner-123").Simulate = &seedSimulation{FailAtStep: stepDeleteStack, Failures: 2}
	})

	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()

		t.Run("five retries absorb five failures", func(t *testing.T) {
			t.Parallel()
			s := startServer(t, ServerOptions{Backend: b, Fixture: fixture, Retries: 5})
			c := s.Client(t, orgABC)
			manage(t, c, api.Reinstall, "cfg-scanner-002")
			list := awaitJobs(t, c, configJobs("cfg-scanner-002"), 1)
			checkJob(t, list.Jobs[0], jobWant{
				Operation:    api.Reinstall,
				Status:       api.JobStateSucceeded,
				ConfigID:     "cfg-scanner-002",
				CurrentStep:  stepPostStatus,
				RetryAttempt: 5,
			})
			wantScannerState(t, c, "cfg-scanner-002", api.ScannerStateInstalled)
		})

		t.Run("no retry fails at the first failure", func(t *testing.T) {
			t.Parallel()
			s := startServer(t, ServerOptions{Backend: b, Fixture: fixture, Env: map[string]string{"ONBOARDING_LOCAL_RETRIES": "0"}})
			c := s.Client(t, orgABC)
			job := awaitJob(t, c, startRemoval(t, c, "cfg-scanner-123"))
			checkJob(t, job, jobWant{
				Operation:    api.Remove,
				Status:       api.JobStateFailed,
				ConfigID:     "cfg-scanner-123",
				CurrentStep:  stepDeleteStack,
				RetryAttempt: 0,
			})
			wantScannerState(t, c, "cfg-scanner-123", api.ScannerStateFailed)
		})
	})
}

func TestAsyncJobTenancy(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})
		owner := s.Client(t, orgABC)
		stranger := s.Client(t, orgOther)

		jobID := startRemoval(t, owner, "cfg-scanner-123")
		batch, err := owner.BatchReinstallScannersWithResponse(t.Context(), orgABC, api.BatchScannerRequest{
			Scanners: []api.BatchScannerItem{{ConfigID: "cfg-scanner-001", CloudProvider: "aws"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "batch reinstall", batch.HTTPResponse, batch.Body, http.StatusAccepted)
		parentID := batch.JSON202.JobID
		orgRemoval, err := owner.RemoveCloudOrganizationWithResponse(t.Context(), orgABC, nil,
			api.CloudOrganizationRequest{CloudOrganizationID: cloudOrgDEF, CloudProvider: api.Aws})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "remove cloud organization", orgRemoval.HTTPResponse, orgRemoval.Body, http.StatusAccepted)
		orgJobID := orgRemoval.JSON202.JobID

		for _, id := range []string{jobID, orgJobID} {
			resp, err := stranger.GetJobWithResponse(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, "another organisation's job "+id, resp.HTTPResponse, resp.Body, http.StatusNotFound, "Job not found")
		}
		for _, id := range []string{parentID, orgJobID} {
			p := parentJobs(id)
			resp, err := stranger.ListJobsWithResponse(t.Context(), &p)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, "another organisation's parent "+id, resp.HTTPResponse, resp.Body, http.StatusNotFound, "Job not found")
		}
		p := configJobs("cfg-scanner-001")
		resp, err := stranger.ListJobsWithResponse(t.Context(), &p)
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, "another organisation's config jobs", resp.HTTPResponse, resp.Body, http.StatusNotFound, "Config not found")

		// The other way round: org_other456's job is hidden from org_abc123.
		otherRemoval, err := stranger.RemoveScannerWithResponse(t.Context(), orgOther, api.ScannerRequest{ConfigID: "cfg-other-001", CloudProvider: api.Aws})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "org_other456 removes its scanner", otherRemoval.HTTPResponse, otherRemoval.Body, http.StatusAccepted)
		hidden, err := owner.GetJobWithResponse(t.Context(), otherRemoval.JSON202.JobID)
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, "org_other456's job read by org_abc123", hidden.HTTPResponse, hidden.Body, http.StatusNotFound, "Job not found")

		// The owner still reads all of its own.
		awaitJob(t, owner, jobID)
		awaitJobs(t, owner, parentJobs(parentID), 1)
		awaitJob(t, owner, orgJobID)
		awaitJob(t, stranger, otherRemoval.JSON202.JobID)
	})
}

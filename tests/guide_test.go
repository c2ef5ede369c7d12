package tests

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// The guide's examples name these ids. CONFIG_ID takes a different value in
// the examples that follow the removal of cfg-scanner-123.
const (
	guideRemovedConfig   = "cfg-scanner-123" // Remove Scanner
	guideManagedConfig   = "cfg-scanner-124" // Reinstall Scanner, Disable Region: us-east-1 of o-abc123xyz
	guideUninstallConfig = "cfg-scanner-202" // Uninstall, Disable and Unpause Scanner
)

// guideBatchBody is the body of every batch example of the guide.
const guideBatchBody = `{
    "scanners": [
      { "configID": "cfg-scanner-001", "cloudProvider": "aws" },
      { "configID": "cfg-scanner-002", "cloudProvider": "aws" }
    ]
  }`

// guideSingleBody is the body of the guide's single-scanner examples with
// CONFIG_ID substituted, keeping the guide's layout.
func guideSingleBody(configID string) string {
	return `{
    "configId": "` + configID + `",
    "cloudProvider": "aws"
  }`
}

// guideReonboardBatch seeds again the two scanners that the guide's batch
// removal deleted and that its later batch examples name.
const guideReonboardBatch = `{"organizations": [{"orgId": "org_abc123", "cloudOrganizations": [
  {"cloudOrganizationId": "o-abc123xyz", "cloudProvider": "aws", "enabledRegions": ["us-east-1", "eu-west-1", "us-east-2"],
   "scanners": [
     {"configId": "cfg-scanner-001", "region": "us-east-1"},
     {"configId": "cfg-scanner-002", "region": "eu-west-1"}]}]}]}`

// guideReonboardOrg seeds again the cloud organisation that the guide's
// organisation removal deleted, so that the provider removal finds both of
// the guide's aws cloud organisations.
const guideReonboardOrg = `{"organizations": [{"orgId": "org_abc123", "cloudOrganizations": [
  {"cloudOrganizationId": "o-abc123xyz", "cloudProvider": "aws", "enabledRegions": ["us-east-1"],
   "scanners": [{"configId": "cfg-scanner-001", "region": "us-east-1"}]}]}]}`

// TestGuideReplay sends every request of the API guide in the guide's order,
// as raw HTTP requests written the way the guide's curl commands are, and
// checks each status, header and body field the guide shows.
func TestGuideReplay(t *testing.T) {
	t.Parallel()
	fixture := demoFixtureWith(t, func(f *seedFixture) {
		org := f.organization(t, orgABC)
		org.CloudOrganizations[0].Scanners = append(org.CloudOrganizations[0].Scanners,
			seedScanner{ConfigID: guideManagedConfig, Region: "us-east-1"})
	})

	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		g := &guideSession{backend: b, server: startServer(t, ServerOptions{Backend: b, Fixture: fixture}), token: token(t, orgABC)}

		var removeJobID string
		t.Run("remove scanner returns 202 with a job", func(t *testing.T) {
			r := g.curl(t, http.MethodPost, "/api/v1/org_abc123/scanner/remove", guideSingleBody(guideRemovedConfig))
			r.wantStatus(t, http.StatusAccepted)
			removeJobID = wantMatch(t, r.what, r.object, "jobId", regexp.MustCompile(`^rm-scan-cfg-scanner-123-[0-9]{10}$`))
			wantJSON(t, r.what, r.object, "statusUrl", "/api/v1/jobs/"+removeJobID)
			wantJSON(t, r.what, r.object, "jobInfo", map[string]any{})
			r.wantHeader(t, "Location", "/api/v1/jobs/"+removeJobID)
			r.wantHeader(t, "Retry-After", "30")
		})

		t.Run("poll job status until succeeded", func(t *testing.T) {
			path := "/api/v1/jobs/" + removeJobID
			var last map[string]any
			var rule headerRule
			waitFor(t, asyncTimeout, "the removal to finish", func() (bool, error) {
				r := g.curl(t, http.MethodGet, path, "")
				if r.status != http.StatusOK {
					return false, fmt.Errorf("status %d: %s", r.status, r.body)
				}
				last = r.object
				status := checkGuideJob(t, r.what, r.object, true)
				rule.check(r.what, &http.Response{Header: r.header}, status == "pending" || status == "running")
				return status == "succeeded" || status == "failed", fmt.Errorf("status %s", status)
			})
			rule.report(t)
			what := "final job status"
			wantJSON(t, what, last, "workflowName", removeJobID)
			wantJSON(t, what, last, "status", "succeeded")
			wantJSON(t, what, last, "configId", guideRemovedConfig)
			wantJSON(t, what, last, "region", "us-east-1")
			wantJSON(t, what, last, "currentStep", stepPostStatus)
			wantJSON(t, what, last, "retryAttempt", 0)
			wantJSON(t, what, last, "error", nil)
		})

		var batchID string
		batchWorkflows := map[string]string{} // config id -> workflow name
		t.Run("batch remove returns 202 with per-scanner results", func(t *testing.T) {
			r := g.curl(t, http.MethodPost, "/api/v1/org_abc123/scanner/batch/remove", guideBatchBody)
			r.wantStatus(t, http.StatusAccepted)
			batchID = wantMatch(t, r.what, r.object, "jobId", correlationIDPattern(prefixRemove))
			statusURL := "/api/v1/jobs?parent-id=" + batchID
			wantJSON(t, r.what, r.object, "statusUrl", statusURL)
			r.wantHeader(t, "Location", statusURL)
			r.wantHeader(t, "Retry-After", "30")

			results := objectsAt(t, r.what, objectAt(t, r.what, r.object, "jobInfo"), "results")
			if len(results) != 2 {
				t.Fatalf("%s: %d results, want 2", r.what, len(results))
			}
			for i, configID := range []string{"cfg-scanner-001", "cfg-scanner-002"} {
				what := fmt.Sprintf("%s results[%d]", r.what, i)
				wantJSON(t, what, results[i], "configID", configID)
				wantJSON(t, what, results[i], "cloudProvider", "aws")
				wantJSON(t, what, results[i], "success", true)
				wantJSON(t, what, results[i], "status", "dispatched")
				batchWorkflows[configID] = wantMatch(t, what, results[i], "workflowName", timedJobIDPattern(prefixRemove, configID))
			}
		})

		t.Run("poll batch status until running is 0", func(t *testing.T) {
			last := g.pollGuideListing(t, "/api/v1/jobs?parent-id="+batchID, 2, true)
			what := "final batch status"
			wantJSON(t, what, last, "parentID", batchID)
			summary := objectAt(t, what, last, "summary")
			wantJSON(t, what, summary, "total", 2)
			wantJSON(t, what, summary, "running", 0)
			wantJSON(t, what, summary, "completed", 2)
			wantJSON(t, what, summary, "failed", 0)
			regions := map[string]string{"cfg-scanner-001": "us-east-1", "cfg-scanner-002": "eu-west-1"}
			for i, job := range objectsAt(t, what, last, "jobs") {
				jobWhat := fmt.Sprintf("%s jobs[%d]", what, i)
				configID, _ := job["configId"].(string)
				wantJSON(t, jobWhat, job, "workflowName", batchWorkflows[configID])
				wantJSON(t, jobWhat, job, "status", "succeeded")
				wantJSON(t, jobWhat, job, "region", regions[configID])
				wantJSON(t, jobWhat, job, "currentStep", stepPostStatus)
			}
		})

		// The batch removal deleted the two scanners that the next batch
		// examples name: onboard them again.
		g.reseed(t, guideReonboardBatch)

		var reinstallID string
		t.Run("batch reinstall returns 202 without workflow names", func(t *testing.T) {
			r := g.curl(t, http.MethodPost, "/api/v1/org_abc123/scanner/batch/reinstall", guideBatchBody)
			r.wantStatus(t, http.StatusAccepted)
			reinstallID = wantMatch(t, r.what, r.object, "jobId", correlationIDPattern(prefixReinstall))
			statusURL := "/api/v1/jobs?parent-id=" + reinstallID
			wantJSON(t, r.what, r.object, "statusUrl", statusURL)
			r.wantHeader(t, "Location", statusURL)
			r.wantHeader(t, "Retry-After", "30")

			results := objectsAt(t, r.what, objectAt(t, r.what, r.object, "jobInfo"), "results")
			if len(results) != 2 {
				t.Fatalf("%s: %d results, want 2", r.what, len(results))
			}
			for i, configID := range []string{"cfg-scanner-001", "cfg-scanner-002"} {
				what := fmt.Sprintf("%s results[%d]", r.what, i)
				wantJSON(t, what, results[i], "configID", configID)
				wantJSON(t, what, results[i], "cloudProvider", "aws")
				wantJSON(t, what, results[i], "success", true)
				wantJSON(t, what, results[i], "status", "dispatched")
				wantAbsent(t, what, results[i], "workflowName")
			}
		})

		t.Run("poll batch reinstall until running is 0", func(t *testing.T) {
			last := g.pollGuideListing(t, "/api/v1/jobs?parent-id="+reinstallID, 2, true)
			what := "final batch reinstall status"
			wantJSON(t, what, last, "parentID", reinstallID)
			summary := objectAt(t, what, last, "summary")
			wantJSON(t, what, summary, "total", 2)
			wantJSON(t, what, summary, "completed", 2)
			wantJSON(t, what, summary, "failed", 0)
			for i, job := range objectsAt(t, what, last, "jobs") {
				configID, _ := job["configId"].(string)
				wantMatch(t, fmt.Sprintf("%s jobs[%d]", what, i), job, "workflowName", timedJobIDPattern(prefixReinstall, configID))
			}
		})

		for _, paused := range []bool{true, false} {
			op := map[bool]string{true: "pause", false: "unpause"}[paused]
			t.Run("batch "+op+" returns 200 with final worker states", func(t *testing.T) {
				r := g.curl(t, http.MethodPost, "/api/v1/org_abc123/scanner/batch/"+op, guideBatchBody)
				r.wantStatus(t, http.StatusOK)
				results := objectsAt(t, r.what, r.object, "results")
				if len(results) != 2 {
					t.Fatalf("%s: %d results, want 2", r.what, len(results))
				}
				for i, configID := range []string{"cfg-scanner-001", "cfg-scanner-002"} {
					what := fmt.Sprintf("%s results[%d]", r.what, i)
					wantJSON(t, what, results[i], "configID", configID)
					wantJSON(t, what, results[i], "cloudProvider", "aws")
					wantJSON(t, what, results[i], "success", true)
					wantJSON(t, what, results[i], "workersPaused", paused)
					wantAbsent(t, what, results[i], "error")
				}
			})
		}

		t.Run("management reinstall returns an empty 200", func(t *testing.T) {
			r := g.curl(t, http.MethodPost, "/api/v1/org_abc123/management/reinstall?config-id="+guideManagedConfig, "")
			r.wantStatus(t, http.StatusOK)
			if len(r.body) != 0 {
				t.Errorf("%s: body %q, want empty", r.what, r.body)
			}
			location := "/api/v1/jobs?config-id=" + guideManagedConfig
			r.wantHeader(t, "Retry-After", "30")
			r.wantHeader(t, "Location", location)

			last := g.pollGuideListing(t, location, 1, true)
			jobs := objectsAt(t, "reinstall jobs", last, "jobs")
			if len(jobs) != 1 {
				t.Fatalf("%s lists %d jobs, want 1", location, len(jobs))
			}
			wantMatch(t, "reinstall job", jobs[0], "workflowName", timedJobIDPattern(prefixReinstall, guideManagedConfig))
			wantJSON(t, "reinstall job", jobs[0], "status", "succeeded")
		})

		t.Run("region disable returns 200 and is idempotent", func(t *testing.T) {
			for _, message := range []string{"Region disabled successfully", "Region already disabled"} {
				r := g.curl(t, http.MethodPost, "/api/v1/org_abc123/scanner/region/disable", guideSingleBody(guideManagedConfig))
				r.wantStatus(t, http.StatusOK)
				wantJSON(t, r.what, r.object, "message", message)
				wantJSON(t, r.what, r.object, "region", "us-east-1")
				wantJSON(t, r.what, r.object, "cloudOrganizationId", cloudOrgABC)
			}
		})

		var orgJobID string
		t.Run("remove cloud organisation returns 202", func(t *testing.T) {
			r := g.curl(t, http.MethodDelete, "/api/v1/org_abc123/cloud-organization", `{
    "cloudOrganizationId": "o-abc123xyz",
    "cloudProvider": "aws"
  }`)
			r.wantStatus(t, http.StatusAccepted)
			orgJobID = wantMatch(t, r.what, r.object, "jobId", timedJobIDPattern(prefixRemoveOrg, cloudOrgABC))
			statusURL := "/api/v1/jobs?parent-id=" + orgJobID
			wantJSON(t, r.what, r.object, "statusUrl", statusURL)
			r.wantHeader(t, "Location", statusURL)
			r.wantHeader(t, "Retry-After", "30")
		})

		t.Run("poll cloud organisation removal until running is 0", func(t *testing.T) {
			last := g.pollGuideListing(t, "/api/v1/jobs?parent-id="+orgJobID, 3, true)
			what := "final cloud organisation removal status"
			wantJSON(t, what, last, "parentID", orgJobID)
			summary := objectAt(t, what, last, "summary")
			wantJSON(t, what, summary, "total", 3)
			wantJSON(t, what, summary, "completed", 3)
			wantJSON(t, what, summary, "failed", 0)
			var children []string
			for i, job := range objectsAt(t, what, last, "jobs") {
				configID, _ := job["configId"].(string)
				children = append(children, configID)
				wantMatch(t, fmt.Sprintf("%s jobs[%d]", what, i), job, "workflowName", timedJobIDPattern(prefixRemove, configID))
			}
			slices.Sort(children)
			if want := []string{"cfg-scanner-001", "cfg-scanner-002", guideManagedConfig}; !slices.Equal(children, want) {
				t.Errorf("%s: children remove %v, want %v", what, children, want)
			}

			c := g.server.Client(t, orgABC)
			job := orgRemovalJobAfterListing(t, c, orgJobID)
			checkOrgRemovalJob(t, job, cloudOrgABC, "", api.JobStateSucceeded, stepDeletingCredentials)
		})

		t.Run("uninstall returns an empty 200", func(t *testing.T) {
			r := g.curl(t, http.MethodPost, "/api/v1/org_abc123/management/uninstall?config-id="+guideUninstallConfig, "")
			r.wantStatus(t, http.StatusOK)
			if len(r.body) != 0 {
				t.Errorf("%s: body %q, want empty", r.what, r.body)
			}
			location := "/api/v1/jobs?config-id=" + guideUninstallConfig
			r.wantHeader(t, "Retry-After", "30")
			r.wantHeader(t, "Location", location)

			last := g.pollGuideListing(t, location, 1, true)
			jobs := objectsAt(t, "uninstall jobs", last, "jobs")
			if len(jobs) != 1 {
				t.Fatalf("%s lists %d jobs, want 1", location, len(jobs))
			}
			wantMatch(t, "uninstall job", jobs[0], "workflowName", timedJobIDPattern(prefixUninstall, guideUninstallConfig))
			wantJSON(t, "uninstall job", jobs[0], "status", "succeeded")
		})

		for _, step := range []struct {
			op       string
			paused   bool
			messages []string
		}{
			{"pause", true, []string{"workers paused successfully", "workers already paused"}},
			{"unpause", false, []string{"workers unpaused successfully", "workers already unpaused"}},
		} {
			t.Run(step.op+" returns 200 and is idempotent", func(t *testing.T) {
				for _, message := range step.messages {
					r := g.curl(t, http.MethodPost, "/api/v1/org_abc123/management/"+step.op+"?config-id="+guideUninstallConfig, "")
					r.wantStatus(t, http.StatusOK)
					wantJSON(t, r.what, r.object, "message", message)
					wantJSON(t, r.what, r.object, "configId", guideUninstallConfig)
					wantJSON(t, r.what, r.object, "workersPaused", step.paused)
				}
			})
		}

		// The organisation removal deleted o-abc123xyz, which the provider
		// removal example lists: onboard it again.
		g.reseed(t, guideReonboardOrg)

		t.Run("remove cloud provider returns 202 per cloud organisation", func(t *testing.T) {
			r := g.curl(t, http.MethodDelete, "/api/v1/org_abc123/cloud-provider/aws", "")
			r.wantStatus(t, http.StatusAccepted)
			providerID := wantMatch(t, r.what, r.object, "jobId", correlationIDPattern("rm-cp-aws"))
			statusURL := "/api/v1/jobs?parent-id=" + providerID
			wantJSON(t, r.what, r.object, "statusUrl", statusURL)
			r.wantHeader(t, "Location", statusURL)
			r.wantHeader(t, "Retry-After", "30")

			results := objectsAt(t, r.what, objectAt(t, r.what, r.object, "jobInfo"), "results")
			if len(results) != 2 {
				t.Fatalf("%s: %d results, want 2", r.what, len(results))
			}
			for i, cloudOrgID := range []string{cloudOrgABC, cloudOrgDEF} {
				what := fmt.Sprintf("%s results[%d]", r.what, i)
				wantJSON(t, what, results[i], "cloudOrganizationId", cloudOrgID)
				wantJSON(t, what, results[i], "success", true)
				wantMatch(t, what, results[i], "workflowName", timedJobIDPattern(prefixRemoveOrg, cloudOrgID))
			}

			last := g.pollGuideListing(t, statusURL, 2, false)
			summary := objectAt(t, "final provider removal status", last, "summary")
			wantJSON(t, "final provider removal status", summary, "completed", 2)
			c := g.server.Client(t, orgABC)
			if ids := scannerIDs(t, c, orgABC, api.ListScannersParams{CloudProvider: ptr(api.Aws)}); len(ids) != 0 {
				t.Errorf("aws scanners remain after the provider removal: %v", ids)
			}
		})

		t.Run("error responses carry the guide's messages", func(t *testing.T) {
			missing := g.curl(t, http.MethodPost, "/api/v1/org_abc123/scanner/remove", `{"cloudProvider": "aws"}`)
			missing.wantStatus(t, http.StatusBadRequest)
			wantJSON(t, missing.what, missing.object, "error", "configId is required")

			resp, body := g.server.send(t, rawRequest{Method: http.MethodPost, Path: "/api/v1/org_abc123/scanner/remove", Body: guideSingleBody("cfg-scanner-001")})
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"Unauthorised"`) {
				t.Errorf("request without a token: status %d, body %s; want 401 {\"error\": \"Unauthorised\"}", resp.StatusCode, body)
			}

			other := &guideSession{backend: b, server: g.server, token: token(t, orgOther)}
			forbidden := other.curl(t, http.MethodPost, "/api/v1/org_abc123/scanner/remove", guideSingleBody("cfg-scanner-001"))
			forbidden.wantStatus(t, http.StatusForbidden)
			wantJSON(t, forbidden.what, forbidden.object, "error", "Access denied")

			notFound := g.curl(t, http.MethodPost, "/api/v1/org_abc123/scanner/remove", guideSingleBody(guideRemovedConfig))
			notFound.wantStatus(t, http.StatusNotFound)
			wantJSON(t, notFound.what, notFound.object, "error", "Config not found")
		})
	})
}

package tests

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// isTerminal reports whether a job has finished.
func isTerminal(s api.JobState) bool {
	return s == api.JobStateSucceeded || s == api.JobStateFailed
}

// headerRule records the first response whose Retry-After header contradicts
// the job state, so a polling loop reports one error instead of one per poll.
type headerRule struct {
	violation string
}

// check records a violation when Retry-After is not "30" while unfinished
// is true, or is set while it is false.
func (r *headerRule) check(what string, resp *http.Response, unfinished bool) {
	if r.violation != "" {
		return
	}
	got := resp.Header.Get("Retry-After")
	switch {
	case unfinished && got != "30":
		r.violation = fmt.Sprintf("%s: unfinished, but Retry-After is %q, want \"30\"", what, got)
	case !unfinished && got != "":
		r.violation = fmt.Sprintf("%s: finished, but Retry-After is %q, want none", what, got)
	}
}

func (r *headerRule) report(t *testing.T) {
	t.Helper()
	if r.violation != "" {
		t.Error(r.violation)
	}
}

// awaitJob polls GET /api/v1/jobs/{jobID} until the job has finished and
// returns its last status. Along the way it checks that Retry-After is sent
// exactly while the job is unfinished and that retryAttempt never decreases.
func awaitJob(t *testing.T, c *api.ClientWithResponses, jobID string) api.JobStatus {
	t.Helper()
	return awaitJobWithin(t, c, jobID, asyncTimeout)
}

// awaitJobWithin is awaitJob with its own timeout.
func awaitJobWithin(t *testing.T, c *api.ClientWithResponses, jobID string, timeout time.Duration) api.JobStatus {
	t.Helper()
	var last api.JobStatus
	var rule headerRule
	var regressions []string
	waitFor(t, timeout, "job "+jobID+" to finish", func() (bool, error) {
		resp, err := c.GetJobWithResponse(t.Context(), jobID)
		if err != nil {
			return false, err
		}
		if resp.JSON200 == nil {
			return false, fmt.Errorf("GET job %s: status %d: %s", jobID, resp.StatusCode(), resp.Body)
		}
		job := *resp.JSON200
		if job.RetryAttempt < last.RetryAttempt {
			regressions = append(regressions, fmt.Sprintf("retryAttempt went from %d to %d", last.RetryAttempt, job.RetryAttempt))
		}
		last = job
		rule.check("GET job "+jobID, resp.HTTPResponse, !isTerminal(job.Status))
		return isTerminal(job.Status), fmt.Errorf("status %s, step %q, retryAttempt %d", job.Status, job.CurrentStep, job.RetryAttempt)
	})
	rule.report(t)
	if len(regressions) > 0 {
		t.Errorf("job %s: %s", jobID, strings.Join(regressions, "; "))
	}
	return last
}

// getJob reads one job and fails the test unless the response is 200.
func getJob(t *testing.T, c *api.ClientWithResponses, jobID string) api.JobStatus {
	t.Helper()
	resp, err := c.GetJobWithResponse(t.Context(), jobID)
	if err != nil {
		t.Fatalf("GET job %s: %v", jobID, err)
	}
	wantStatus(t, "GET job "+jobID, resp.HTTPResponse, resp.Body, http.StatusOK)
	return *resp.JSON200
}

// listJobs reads a job listing and fails the test unless the response is 200.
func listJobs(t *testing.T, c *api.ClientWithResponses, params api.ListJobsParams) api.JobList {
	t.Helper()
	resp, err := c.ListJobsWithResponse(t.Context(), &params)
	if err != nil {
		t.Fatalf("GET jobs %s: %v", describeListing(params), err)
	}
	wantStatus(t, "GET jobs "+describeListing(params), resp.HTTPResponse, resp.Body, http.StatusOK)
	return *resp.JSON200
}

// parentJobs and configJobs name the two kinds of job listing.
func parentJobs(parentID string) api.ListJobsParams { return api.ListJobsParams{ParentID: &parentID} }
func configJobs(configID string) api.ListJobsParams { return api.ListJobsParams{ConfigID: &configID} }

func describeListing(p api.ListJobsParams) string {
	switch {
	case p.ParentID != nil:
		return "parent-id=" + *p.ParentID
	case p.ConfigID != nil:
		return "config-id=" + *p.ConfigID
	default:
		return "(no filter)"
	}
}

// awaitJobs polls a job listing until summary.running is 0 and
// summary.total is at least minTotal, and returns the last listing. Along
// the way it checks that Retry-After is sent exactly while running > 0 and
// that each summary agrees with the jobs listed with it.
func awaitJobs(t *testing.T, c *api.ClientWithResponses, params api.ListJobsParams, minTotal int) api.JobList {
	t.Helper()
	return awaitJobsWithin(t, c, params, minTotal, asyncTimeout)
}

// awaitJobsWithin is awaitJobs with its own timeout.
func awaitJobsWithin(t *testing.T, c *api.ClientWithResponses, params api.ListJobsParams, minTotal int, timeout time.Duration) api.JobList {
	t.Helper()
	what := "jobs " + describeListing(params)
	var last api.JobList
	var rule headerRule
	var mismatch string
	waitFor(t, timeout, what+" to finish", func() (bool, error) {
		resp, err := c.ListJobsWithResponse(t.Context(), &params)
		if err != nil {
			return false, err
		}
		if resp.JSON200 == nil {
			return false, fmt.Errorf("GET %s: status %d: %s", what, resp.StatusCode(), resp.Body)
		}
		last = *resp.JSON200
		rule.check("GET "+what, resp.HTTPResponse, last.Summary.Running > 0)
		if mismatch == "" {
			mismatch = summaryMismatch(last)
		}
		return last.Summary.Running == 0 && last.Summary.Total >= minTotal, fmt.Errorf("summary %s", describeSummary(last.Summary))
	})
	rule.report(t)
	if mismatch != "" {
		t.Errorf("GET %s: %s", what, mismatch)
	}
	return last
}

// summaryMismatch describes how a listing's summary disagrees with the jobs
// it lists, or returns "" when they agree. Both come from one response, so a
// client that stops polling at running 0 must find every listed job finished.
// Running may exceed the unfinished jobs plus the queued actions: it also
// counts an unfinished parent job, and the service reads a parent's state
// before its children so that work moving on between reads is counted
// twice rather than missed. Listings cut by a limit are not compared.
func summaryMismatch(list api.JobList) string {
	if len(list.Jobs) != list.Summary.Total {
		return ""
	}
	var unfinished, succeeded, failed int
	for _, j := range list.Jobs {
		switch j.Status {
		case api.JobStateSucceeded:
			succeeded++
		case api.JobStateFailed:
			failed++
		default:
			unfinished++
		}
	}
	active := list.Summary.Running - deref(list.Summary.Queued)
	if active >= unfinished && list.Summary.Completed == succeeded && list.Summary.Failed == failed {
		return ""
	}
	return fmt.Sprintf("summary (%s) disagrees with the listed jobs (%d unfinished, %d succeeded, %d failed)",
		describeSummary(list.Summary), unfinished, succeeded, failed)
}

func describeSummary(s api.JobSummary) string {
	text := fmt.Sprintf("total %d, running %d, completed %d, failed %d", s.Total, s.Running, s.Completed, s.Failed)
	if s.Pending != nil {
		text += fmt.Sprintf(", pending %d", *s.Pending)
	}
	if s.Queued != nil {
		text += fmt.Sprintf(", queued %d", *s.Queued)
	}
	return text
}

// wantSummary checks every count of a finished listing's summary.
func wantSummary(t *testing.T, what string, got api.JobSummary, total, completed, failed int) {
	t.Helper()
	if got.Total != total {
		t.Errorf("%s: summary.total = %d, want %d (%s)", what, got.Total, total, describeSummary(got))
	}
	if got.Running != 0 {
		t.Errorf("%s: summary.running = %d, want 0 (%s)", what, got.Running, describeSummary(got))
	}
	if got.Completed != completed {
		t.Errorf("%s: summary.completed = %d, want %d (%s)", what, got.Completed, completed, describeSummary(got))
	}
	if got.Failed != failed {
		t.Errorf("%s: summary.failed = %d, want %d (%s)", what, got.Failed, failed, describeSummary(got))
	}
	if got.Queued == nil || *got.Queued != 0 {
		t.Errorf("%s: summary.queued should be 0 (%s)", what, describeSummary(got))
	}
}

// jobWant lists the expected fields of a finished leaf job; empty strings
// are not checked.
type jobWant struct {
	ID           *regexp.Regexp
	Operation    api.Operation
	Status       api.JobState
	ConfigID     string
	Region       string
	ParentID     string
	CurrentStep  string
	RetryAttempt int
}

// checkJob checks a job against want, each field on its own, and the fields
// every job has: its organisation, cloud provider aws, ordered timestamps and
// an error exactly when it failed.
func checkJob(t *testing.T, got api.JobStatus, want jobWant) {
	t.Helper()
	name := got.WorkflowName

	if want.ID != nil && !want.ID.MatchString(got.WorkflowName) {
		t.Errorf("job %s: workflowName does not match %s", name, want.ID)
	}
	if got.Operation == nil || *got.Operation != want.Operation {
		t.Errorf("job %s: operation = %v, want %s", name, deref(got.Operation), want.Operation)
	}
	if want.Status != "" && got.Status != want.Status {
		t.Errorf("job %s: status = %s, want %s (error %q)", name, got.Status, want.Status, deref(got.Error))
	}
	if want.ConfigID != "" && deref(got.ConfigID) != want.ConfigID {
		t.Errorf("job %s: configId = %q, want %q", name, deref(got.ConfigID), want.ConfigID)
	}
	if want.Region != "" && deref(got.Region) != want.Region {
		t.Errorf("job %s: region = %q, want %q", name, deref(got.Region), want.Region)
	}
	if deref(got.ParentID) != want.ParentID {
		t.Errorf("job %s: parentId = %q, want %q", name, deref(got.ParentID), want.ParentID)
	}
	if want.CurrentStep != "" && got.CurrentStep != want.CurrentStep {
		t.Errorf("job %s: currentStep = %q, want %q", name, got.CurrentStep, want.CurrentStep)
	}
	if got.RetryAttempt != want.RetryAttempt {
		t.Errorf("job %s: retryAttempt = %d, want %d", name, got.RetryAttempt, want.RetryAttempt)
	}

	if got.OrgID != orgABC {
		t.Errorf("job %s: orgId = %q, want %q", name, got.OrgID, orgABC)
	}
	if got.CloudProvider != string(api.Aws) {
		t.Errorf("job %s: cloudProvider = %q, want aws", name, got.CloudProvider)
	}
	if got.CreatedAt.IsZero() || got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("job %s: createdAt %s, updatedAt %s: want a set createdAt no later than updatedAt",
			name, got.CreatedAt, got.UpdatedAt)
	}

	switch {
	case got.Status == api.JobStateFailed && (got.Error == nil || *got.Error == ""):
		t.Errorf("job %s failed without an error", name)
	case got.Status != api.JobStateFailed && got.Error != nil:
		t.Errorf("job %s: status %s with error %q, want null", name, got.Status, *got.Error)
	}
}

// activeJob returns the config's unfinished job, failing the test when
// there is none.
func activeJob(t *testing.T, c *api.ClientWithResponses, configID string) api.JobStatus {
	t.Helper()
	list := listJobs(t, c, configJobs(configID))
	for _, j := range list.Jobs {
		if !isTerminal(j.Status) {
			return j
		}
	}
	t.Fatalf("config %s has no unfinished job: %s", configID, describeSummary(list.Summary))
	return api.JobStatus{}
}

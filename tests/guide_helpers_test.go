package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"testing"
	"time"
)

// guideSession replays the API guide's curl requests against one server,
// which a step may replace with a new server on the same database.
type guideSession struct {
	backend Backend
	server  *Server
	token   string
}

// guideReply is one response, with its body decoded when it is a JSON object.
type guideReply struct {
	what   string
	status int
	header http.Header
	body   []byte
	object map[string]any
}

// curl sends a request the way the guide's curl commands do: always the
// bearer token, and "Content-Type: application/json" only with a body.
func (g *guideSession) curl(t *testing.T, method, path, body string) guideReply {
	t.Helper()
	resp, raw := g.server.send(t, rawRequest{Method: method, Path: path, Token: g.token, Body: body})
	r := guideReply{what: method + " " + path, status: resp.StatusCode, header: resp.Header, body: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.object); err != nil {
			t.Errorf("%s: the body is not a JSON object: %v; body: %s", r.what, err, raw)
		}
	}
	return r
}

// reseed stops the server and starts a new one on the same database after
// seeding fixture into it, the way an operator onboards scanners again.
func (g *guideSession) reseed(t *testing.T, fixture string) {
	t.Helper()
	g.server.Stop(t)
	g.server = startServer(t, ServerOptions{Backend: g.backend, DatabaseURL: g.server.DatabaseURL, Fixture: fixture})
}

// wantStatus stops the test when the response has another status.
func (r guideReply) wantStatus(t *testing.T, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body: %s", r.what, r.status, want, r.body)
	}
}

// wantHeader checks one header of the response.
func (r guideReply) wantHeader(t *testing.T, name, want string) {
	t.Helper()
	if got := r.header.Get(name); got != want {
		t.Errorf("%s: header %s = %q, want %q", r.what, name, got, want)
	}
}

// wantJSON checks that obj[key] equals want once want has made a round trip
// through JSON, so Go ints compare with JSON numbers and nil with null. A
// missing key fails even when want is nil.
func wantJSON(t *testing.T, what string, obj map[string]any, key string, want any) {
	t.Helper()
	got, ok := obj[key]
	if !ok {
		t.Errorf("%s: field %q is missing; want %v", what, key, want)
		return
	}
	encoded, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: encoding the expected %q: %v", what, key, err)
	}
	var normal any
	if err := json.Unmarshal(encoded, &normal); err != nil {
		t.Fatalf("%s: decoding the expected %q: %v", what, key, err)
	}
	if !reflect.DeepEqual(got, normal) {
		t.Errorf("%s: field %q = %v, want %v", what, key, describeJSON(got), describeJSON(normal))
	}
}

// wantAbsent checks that obj has no field key.
func wantAbsent(t *testing.T, what string, obj map[string]any, key string) {
	t.Helper()
	if got, ok := obj[key]; ok {
		t.Errorf("%s: field %q = %v, want it absent", what, key, describeJSON(got))
	}
}

// wantMatch checks that obj[key] is a string matching pattern and returns it.
func wantMatch(t *testing.T, what string, obj map[string]any, key string, pattern *regexp.Regexp) string {
	t.Helper()
	got, ok := obj[key].(string)
	if !ok {
		t.Errorf("%s: field %q = %v, want a string matching %s", what, key, describeJSON(obj[key]), pattern)
		return ""
	}
	if !pattern.MatchString(got) {
		t.Errorf("%s: field %q = %q, want a match of %s", what, key, got, pattern)
	}
	return got
}

// wantTimestamp checks that obj[key] is an RFC 3339 time and returns it.
func wantTimestamp(t *testing.T, what string, obj map[string]any, key string) time.Time {
	t.Helper()
	text, _ := obj[key].(string)
	at, err := time.Parse(time.RFC3339, text)
	if err != nil {
		t.Errorf("%s: field %q = %v, want an RFC 3339 time", what, key, describeJSON(obj[key]))
	}
	return at
}

// wantType checks that obj[key] exists with the JSON type of example
// (string, number, bool, object or array).
func wantType(t *testing.T, what string, obj map[string]any, key string, example any) {
	t.Helper()
	got, ok := obj[key]
	if !ok || reflect.TypeOf(got) != reflect.TypeOf(example) {
		t.Errorf("%s: field %q = %v, want a %T", what, key, describeJSON(got), example)
	}
}

// objectAt returns obj[key] as an object, failing the test when it is not.
func objectAt(t *testing.T, what string, obj map[string]any, key string) map[string]any {
	t.Helper()
	got, ok := obj[key].(map[string]any)
	if !ok {
		t.Fatalf("%s: field %q = %v, want an object", what, key, describeJSON(obj[key]))
	}
	return got
}

// objectsAt returns obj[key] as an array of objects, failing the test when
// it is not one.
func objectsAt(t *testing.T, what string, obj map[string]any, key string) []map[string]any {
	t.Helper()
	items, ok := obj[key].([]any)
	if !ok {
		t.Fatalf("%s: field %q = %v, want an array", what, key, describeJSON(obj[key]))
	}
	out := make([]map[string]any, 0, len(items))
	for i, item := range items {
		o, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("%s: %s[%d] = %v, want an object", what, key, i, describeJSON(item))
		}
		out = append(out, o)
	}
	return out
}

func describeJSON(v any) string {
	encoded, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(encoded)
}

// guideJobStates are the job status values the guide lists.
var guideJobStates = map[string]bool{"pending": true, "running": true, "succeeded": true, "failed": true}

// checkGuideJob checks the fields the guide shows for one job status and
// returns its status. A cloud organisation removal job (leaf false) has a
// cloudOrganizationId in place of configId and region.
func checkGuideJob(t *testing.T, what string, job map[string]any, leaf bool) string {
	t.Helper()
	keys := []string{"workflowName", "orgId", "cloudProvider", "currentStep"}
	if leaf {
		keys = append(keys, "configId", "region")
	} else {
		keys = append(keys, "cloudOrganizationId")
	}
	for _, key := range keys {
		wantType(t, what, job, key, "")
	}
	wantJSON(t, what, job, "orgId", orgABC)
	wantJSON(t, what, job, "cloudProvider", "aws")
	wantType(t, what, job, "retryAttempt", float64(0))
	created := wantTimestamp(t, what, job, "createdAt")
	updated := wantTimestamp(t, what, job, "updatedAt")
	if updated.Before(created) {
		t.Errorf("%s: updatedAt %s is before createdAt %s", what, updated, created)
	}
	status, _ := job["status"].(string)
	if !guideJobStates[status] {
		t.Errorf("%s: status %q is not one of pending, running, succeeded, failed", what, status)
	}
	if status != "failed" {
		wantJSON(t, what, job, "error", nil)
	}
	return status
}

// pollGuideListing polls a listing path the way the guide's "Poll Batch
// Status" does until summary.running is 0 and summary.total is at least
// minTotal, and returns the last response. It checks the shape of the
// first and the last response, and the Retry-After header of every response.
func (g *guideSession) pollGuideListing(t *testing.T, path string, minTotal int, leaf bool) map[string]any {
	t.Helper()
	var first, last guideReply
	var rule headerRule
	var unfinishedAtZero string
	waitFor(t, asyncTimeout, path+" to report running 0", func() (bool, error) {
		r := g.curl(t, http.MethodGet, path, "")
		if r.status != http.StatusOK {
			return false, fmt.Errorf("status %d: %s", r.status, r.body)
		}
		if first.object == nil {
			first = r
		}
		last = r
		summary, _ := r.object["summary"].(map[string]any)
		running, _ := summary["running"].(float64)
		total, _ := summary["total"].(float64)
		rule.check(r.what, &http.Response{Header: r.header}, running > 0)
		if running == 0 && unfinishedAtZero == "" {
			unfinishedAtZero = unfinishedJobs(r.object)
		}
		return running == 0 && int(total) >= minTotal, fmt.Errorf("summary %s", describeJSON(summary))
	})
	rule.report(t)
	// Clients stop polling at running 0, so every listed job must have
	// finished by then.
	if unfinishedAtZero != "" {
		t.Errorf("GET %s reported running 0 while listing unfinished jobs: %s", path, unfinishedAtZero)
	}

	for _, r := range []guideReply{first, last} {
		summary := objectAt(t, r.what, r.object, "summary")
		for _, key := range []string{"total", "running", "completed", "failed"} {
			wantType(t, r.what+" summary", summary, key, float64(0))
		}
		for i, job := range objectsAt(t, r.what, r.object, "jobs") {
			checkGuideJob(t, fmt.Sprintf("%s jobs[%d]", r.what, i), job, leaf)
		}
	}
	return last.object
}

// unfinishedJobs lists the jobs of a listing whose status is neither
// succeeded nor failed, or returns "" when there are none.
func unfinishedJobs(listing map[string]any) string {
	jobs, _ := listing["jobs"].([]any)
	var unfinished []string
	for _, item := range jobs {
		job, _ := item.(map[string]any)
		if status := job["status"]; status != "succeeded" && status != "failed" {
			unfinished = append(unfinished, fmt.Sprintf("%v (%v)", job["workflowName"], status))
		}
	}
	if len(unfinished) == 0 {
		return ""
	}
	return fmt.Sprint(unfinished)
}

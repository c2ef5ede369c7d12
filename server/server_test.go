package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scanner-ops/onboarding-service/gen/api"
	"github.com/scanner-ops/onboarding-service/server/auth"
	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// testSecret is the HS256 secret of every test server.
var testSecret = []byte("server-test-secret-of-at-least-32-bytes")

// testOrgID is the organisation of the tokens that mintToken issues.
const testOrgID = "org_test"

// logBuffer collects the JSON log lines of one test server.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// entries returns the decoded log lines whose message is msg.
func (b *logBuffer) entries(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var found []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if entry["msg"] == msg {
			found = append(found, entry)
		}
	}
	return found
}

// testServer is an echo server built by New on SQLite, the local engine and
// the in-process locker, with its logs captured.
type testServer struct {
	echo *echo.Echo
	logs *logBuffer
}

// newTestServer builds a server. Each configure function may change the
// dependencies before New receives them.
func newTestServer(t testing.TB, configure ...func(*Deps)) *testServer {
	t.Helper()
	d, logs := newTestDeps(t)
	for _, fn := range configure {
		fn(&d)
	}

	e, err := New(context.Background(), d)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &testServer{echo: e, logs: logs}
}

// newTestDeps returns complete dependencies on a fresh SQLite database and
// the buffer that receives their logs.
func newTestDeps(t testing.TB) (Deps, *logBuffer) {
	t.Helper()
	ctx := context.Background()

	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), store.Options{})
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrating the store: %v", err)
	}

	engine := workflows.NewLocalEngine(workflows.LocalConfig{StepDelay: -1})
	t.Cleanup(engine.Close)
	locker := workflows.NewMemoryLocker()
	dispatcher, err := workflows.NewDispatcher(workflows.DispatcherConfig{Store: st, Engine: engine, Locker: locker})
	if err != nil {
		t.Fatalf("creating the dispatcher: %v", err)
	}

	verifier, err := auth.New(ctx, auth.Config{HS256Secret: testSecret})
	if err != nil {
		t.Fatalf("creating the verifier: %v", err)
	}

	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := Deps{
		Store:      st,
		Dispatcher: dispatcher,
		Engine:     engine,
		Locker:     locker,
		Auth:       verifier,
		Logger:     logger,
	}
	return d, logs
}

// serve sends req through the server and returns the recorded response.
func (s *testServer) serve(req *http.Request) *httptest.ResponseRecorder {
	return httptestServe(s.echo, req)
}

func httptestServe(handler http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

func discardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// newRequest returns a request with a JSON body, or none when body is "".
func newRequest(method, target, body string) *http.Request {
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, reader)
	if body != "" {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	return req
}

// authorised sets a bearer token for orgID on req and returns req.
func authorised(t testing.TB, req *http.Request, orgID string) *http.Request {
	t.Helper()
	req.Header.Set(echo.HeaderAuthorization, "Bearer "+mintToken(t, orgID))
	return req
}

// mintToken returns a token for orgID that is valid for an hour.
func mintToken(t testing.TB, orgID string) string {
	t.Helper()
	token, err := auth.Mint(testSecret, orgID, time.Hour, time.Now())
	if err != nil {
		t.Fatalf("minting a token: %v", err)
	}
	return token
}

// decodeError decodes an error response and checks that it is JSON.
func decodeError(t *testing.T, rec *httptest.ResponseRecorder) api.Error {
	t.Helper()
	if ct := rec.Header().Get(echo.HeaderContentType); !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		t.Fatalf("Content-Type = %q, want application/json; body %q", ct, rec.Body.String())
	}
	var body api.Error
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not an error object: %v", rec.Body.String(), err)
	}
	return body
}

// wantError checks the status and the "error" message of a response.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, message string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %q", rec.Code, status, rec.Body.String())
	}
	if got := decodeError(t, rec).Error; got != message {
		t.Errorf("error = %q, want %q", got, message)
	}
}

func TestNewRejectsMissingDependencies(t *testing.T) {
	t.Parallel()
	d, _ := newTestDeps(t)
	d.Store = nil
	d.Auth = nil
	d.BodyLimit = -1

	_, err := New(context.Background(), d)
	if err == nil {
		t.Fatal("New returned no error for missing Store and Auth")
	}
	for _, want := range []string{"Store is required", "Auth is required", "BodyLimit is -1 bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestNewFillsDefaults(t *testing.T) {
	t.Parallel()
	d := Deps{}.withDefaults()
	if d.Logger == nil {
		t.Error("Logger is nil, want slog.Default()")
	}
	if d.BodyLimit != DefaultBodyLimit {
		t.Errorf("BodyLimit = %d, want %d", d.BodyLimit, DefaultBodyLimit)
	}
	if d.Now == nil {
		t.Error("Now is nil, want time.Now")
	}
}

func TestProbesNeedNoToken(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	for _, path := range []string{"/healthz", "/readyz"} {
		rec := s.serve(newRequest(http.MethodGet, path, ""))
		if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
			t.Errorf("GET %s = %d, want a response without a token", path, rec.Code)
		}
	}
}

// hangingLocker is a lock service whose health check never returns, even
// when the caller gives up.
type hangingLocker struct {
	workflows.Locker
	release chan struct{}
}

func (l hangingLocker) Ping(context.Context) error {
	<-l.release
	return nil
}

func TestReadinessWithHangingDependency(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := newTestServer(t, func(d *Deps) { d.Locker = hangingLocker{Locker: d.Locker, release: release} })

	rec := srv.serve(newRequest(http.MethodGet, "/readyz", ""))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", rec.Code, rec.Body)
	}
	var body api.HealthStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Checks == nil || (*body.Checks)["locks"] != "check timed out" || (*body.Checks)["database"] != "ok" {
		t.Errorf("checks = %v, want locks timed out and the database ok", body.Checks)
	}
	if body.Error == nil || *body.Error != "not ready: locks unavailable" {
		t.Errorf("error = %v", body.Error)
	}
}

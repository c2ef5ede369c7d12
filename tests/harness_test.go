package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/internal/pgtest"
)

// Backend names a database backend of the suite.
type Backend string

// The backends every test runs on.
const (
	BackendSQLite   Backend = "sqlite"
	BackendPostgres Backend = "postgres"
)

// postgresURLEnv names the variable that enables the PostgreSQL backend.
const postgresURLEnv = pgtest.URLEnv

// Waits of the harness.
const (
	startTimeout = 30 * time.Second // from exec to the "listening" log line
	stopTimeout  = 10 * time.Second // from SIGTERM to SIGKILL
	pollInterval = 10 * time.Millisecond
)

// forEachBackend runs fn as the subtest "sqlite" and, when
// ONBOARDING_TEST_POSTGRES_URL is set, as the subtest "postgres". The
// subtests run one after the other unless fn calls t.Parallel. Once the
// variable is set, an unreachable PostgreSQL fails the test.
func forEachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	backends := []Backend{BackendSQLite}
	if os.Getenv(postgresURLEnv) != "" {
		backends = append(backends, BackendPostgres)
	}
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) { fn(t, b) })
	}
}

// ServerOptions configures startServer. Zero values take the defaults noted.
type ServerOptions struct {
	// Backend is the database kind, BackendSQLite by default.
	Backend Backend
	// DatabaseURL reuses an existing database, for restart tests. Empty
	// creates a fresh one: a temporary SQLite file, or a PostgreSQL schema
	// dropped when the test ends.
	DatabaseURL string
	// Fixture is the JSON fixture seeded with `onboarding-service seed`
	// before the server starts. "-" seeds nothing. Empty seeds demoFixture
	// into a fresh database and nothing into a reused one, because seeding
	// again would reset the scanners' workersPaused.
	Fixture string
	// StepDelay is ONBOARDING_LOCAL_STEP_DELAY, 5ms by default.
	StepDelay time.Duration
	// Retries is ONBOARDING_LOCAL_RETRIES, 3 by default. Zero cannot be
	// expressed here, so pass Env{"ONBOARDING_LOCAL_RETRIES": "0"} for no retry.
	Retries int
	// Env holds extra environment variables, for example
	// ONBOARDING_REDIS_URL. They override the harness's own settings.
	Env map[string]string
}

// Server is one running process of the service binary, listening on
// 127.0.0.1 on a port the kernel chose.
type Server struct {
	// URL is the base URL, such as http://127.0.0.1:41234.
	URL string
	// DatabaseURL is the database the server uses. Pass it in
	// ServerOptions.DatabaseURL to start another server on the same data.
	DatabaseURL string
	// Logs is a copy of the process's stderr and stdout (JSON log lines).
	Logs *logBuffer

	// transport carries the requests of every client of this server, so
	// that Stop can close its idle connections first: net/http's Shutdown
	// waits up to 5 s for a connection that has not sent a request yet.
	transport *http.Transport
	cmd       *exec.Cmd
	done      chan struct{} // closed when the process has exited
	// waitErr is the result of cmd.Wait, readable once done is closed.
	waitErr error
	// allowServerErrors turns off the harness's failure on 5xx responses.
	allowServerErrors atomic.Bool
}

// startServer seeds a database and starts the service on it. The server is
// stopped when the test ends (SIGTERM, then SIGKILL after 10 s).
func startServer(t *testing.T, opts ServerOptions) *Server {
	t.Helper()
	if opts.Backend == "" {
		opts.Backend = BackendSQLite
	}
	if opts.StepDelay == 0 {
		opts.StepDelay = 5 * time.Millisecond
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}

	fixture := opts.Fixture
	databaseURL := opts.DatabaseURL
	if databaseURL == "" {
		databaseURL = newDatabase(t, opts.Backend)
		if fixture == "" {
			fixture = demoFixture
		}
	}
	env := serverEnv(databaseURL, opts)
	if fixture != "" && fixture != "-" {
		seed(t, env, fixture)
	}

	s := &Server{
		DatabaseURL: databaseURL,
		Logs:        &logBuffer{},
		transport:   http.DefaultTransport.(*http.Transport).Clone(),
		done:        make(chan struct{}),
	}
	s.cmd = exec.Command(serverBinary, "serve")
	s.cmd.Env = env
	s.cmd.Stderr = s.Logs
	s.cmd.Stdout = s.Logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", serverBinary, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.Stop(t) })

	addr, err := s.awaitListening()
	if err != nil {
		s.Kill(t)
		t.Fatalf("server on %s did not start: %v\nlogs:\n%s", opts.Backend, err, s.Logs)
	}
	s.URL = "http://" + addr
	return s
}

// awaitListening polls the logs for the "listening" line and returns its
// address.
func (s *Server) awaitListening() (string, error) {
	deadline := time.After(startTimeout)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if addr := s.Logs.listeningAddr(); addr != "" {
			return addr, nil
		}
		select {
		case <-s.done:
			return "", fmt.Errorf("the process exited: %v", s.waitErr)
		case <-deadline:
			return "", fmt.Errorf("no \"listening\" log line within %s", startTimeout)
		case <-ticker.C:
		}
	}
}

// Stop sends SIGTERM and waits for the process to exit, sending SIGKILL
// after 10 s. It fails the test when the process does not exit cleanly.
// Stopping a stopped server does nothing.
func (s *Server) Stop(t *testing.T) {
	t.Helper()
	if s.exited() {
		return
	}
	s.transport.CloseIdleConnections()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("sending SIGTERM to the server: %v", err)
	}
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Errorf("server exited with %v after SIGTERM; logs:\n%s", s.waitErr, s.Logs.tail(40))
		}
	case <-time.After(stopTimeout):
		t.Errorf("server did not exit within %s of SIGTERM; killing it; logs:\n%s", stopTimeout, s.Logs.tail(40))
		s.Kill(t)
	}
}

// Kill sends SIGKILL and waits for the process to exit, as a crash would
// end it. Killing a stopped server does nothing.
func (s *Server) Kill(t *testing.T) {
	t.Helper()
	if s.exited() {
		return
	}
	s.transport.CloseIdleConnections()
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("killing the server: %v", err)
	}
	<-s.done
}

// AllowServerErrors stops the harness from failing the test on 5xx
// responses of this server, for tests that expect them (an unreachable Redis).
func (s *Server) AllowServerErrors() {
	s.allowServerErrors.Store(true)
}

func (s *Server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// serverEnv returns the process environment without the caller's
// ONBOARDING_* variables, plus the suite's settings and opts.Env.
func serverEnv(databaseURL string, opts ServerOptions) []string {
	settings := map[string]string{
		"ONBOARDING_LISTEN":             "127.0.0.1:0",
		"ONBOARDING_DATABASE_URL":       databaseURL,
		"ONBOARDING_JWT_SECRET":         testSecret,
		"ONBOARDING_LOCAL_STEP_DELAY":   opts.StepDelay.String(),
		"ONBOARDING_LOCAL_RETRIES":      strconv.Itoa(opts.Retries),
		"ONBOARDING_RECONCILE_INTERVAL": "20ms",
		"ONBOARDING_LOG_FORMAT":         "json",
		"ONBOARDING_SHUTDOWN_TIMEOUT":   "5s",
	}
	if engine := testEngine(); engine != "" {
		settings["ONBOARDING_ENGINE"] = engine
	}
	for key, value := range opts.Env {
		settings[key] = value
	}

	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ONBOARDING_") {
			env = append(env, kv)
		}
	}
	for key, value := range settings {
		env = append(env, key+"="+value)
	}
	return env
}

// engineEnv selects the workflow engine of every server the suite starts;
// empty means the binary's default, the local engine. `make test` runs the
// suite a second time with argo-fake, the argo engine against an in-memory
// Kubernetes API.
const engineEnv = "ONBOARDING_TEST_ENGINE"

func testEngine() string {
	return os.Getenv(engineEnv)
}

// requireLocalEngine skips a test that relies on the local engine: on
// workflows that survive in the database alone across restarts, or on
// ONBOARDING_LOCAL_RETRIES. With argo-fake the workflows live in the
// process's in-memory cluster, which a restart loses.
func requireLocalEngine(t *testing.T) {
	t.Helper()
	if engine := testEngine(); engine != "" && engine != "local" {
		t.Skipf("needs the local engine; %s=%s", engineEnv, engine)
	}
}

// seed writes fixture to a file and loads it with `onboarding-service seed`.
func seed(t *testing.T, env []string, fixture string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fixture.json")
	if err := os.WriteFile(path, []byte(fixture), 0o600); err != nil {
		t.Fatalf("writing the fixture: %v", err)
	}
	cmd := exec.Command(serverBinary, "seed", path)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("onboarding-service seed failed: %v\n%s", err, out)
	}
}

// newDatabase returns the URL of a fresh, empty database of backend b,
// removed when the test ends.
func newDatabase(t *testing.T, b Backend) string {
	t.Helper()
	switch b {
	case BackendSQLite:
		return filepath.Join(t.TempDir(), "onboarding.db")
	case BackendPostgres:
		return newPostgresSchema(t)
	default:
		t.Fatalf("unknown backend %q", b)
		return ""
	}
}

// newPostgresSchema creates a schema with a random name and returns the
// ONBOARDING_TEST_POSTGRES_URL with search_path set to it, so servers never
// share tables. The schema is dropped when the test ends, after the server
// registered later has stopped.
func newPostgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv(postgresURLEnv)
	if base == "" {
		t.Fatalf("the postgres backend needs %s", postgresURLEnv)
	}
	return pgtest.NewSchema(t, base, "tests_")
}

// waitFor calls cond every 10 ms until it returns true, and fails the test
// with what and the last state when timeout passes first. An error from cond
// does not stop the polling: it describes the state reached so far, and the
// last one is reported on timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last state: %v", timeout, what, err)
		}
		time.Sleep(pollInterval)
	}
}

// logBuffer is a thread-safe copy of a server's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Contains reports whether substr was written.
func (b *logBuffer) Contains(substr string) bool {
	return strings.Contains(b.String(), substr)
}

// Lines returns the complete lines written so far, decoded as JSON objects;
// lines that are not JSON objects are skipped.
func (b *logBuffer) Lines() []map[string]any {
	var lines []map[string]any
	text := b.String()
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		return nil
	}
	for _, line := range strings.Split(text, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil {
			lines = append(lines, entry)
		}
	}
	return lines
}

// listeningAddr returns the addr of the first "listening" line, or "".
func (b *logBuffer) listeningAddr() string {
	for _, line := range b.Lines() {
		if line["msg"] == "listening" {
			if addr, ok := line["addr"].(string); ok {
				return addr
			}
		}
	}
	return ""
}

// tail returns the last n lines, for failure messages.
func (b *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

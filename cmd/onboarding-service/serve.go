package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scanner-ops/onboarding-service/server"
	"github.com/scanner-ops/onboarding-service/server/auth"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// Timeouts of the HTTP server. Write covers the longest synchronous batch.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
)

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, _, err := parseFlags("serve", args, stderr, nil)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	locker, closeLocker, err := newLocker(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeLocker()

	metrics := server.NewMetrics(server.MetricsSources{Store: st, Logger: logger})
	locker = workflows.ObservedLocker{Locker: locker, Observe: metrics.ObserveLockWait}

	runtime, err := newEngine(ctx, cfg, st, metrics, logger)
	if err != nil {
		return err
	}
	engine := runtime.engine

	dispatcher, err := workflows.NewDispatcher(workflows.DispatcherConfig{
		Store:     st,
		Engine:    engine,
		Locker:    locker,
		Logger:    logger,
		ReplicaID: cfg.ReplicaID,
		LeaseTTL:  cfg.LeaseTTL,
	})
	if err != nil {
		return err
	}

	// The verifier's key cache lives as long as this context.
	authCtx, cancelAuth := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAuth()
	verifier, err := auth.New(authCtx, auth.Config{
		HS256Secret: []byte(cfg.JWTSecret),
		JWKSURL:     cfg.JWKSURL,
		Issuer:      cfg.JWTIssuer,
		Audience:    cfg.JWTAudience,
	})
	if err != nil {
		return fmt.Errorf("configuring authentication: %w", err)
	}

	e, err := server.New(ctx, server.Deps{
		Store:            st,
		Dispatcher:       dispatcher,
		Engine:           engine,
		Locker:           locker,
		Auth:             verifier,
		Logger:           logger,
		Metrics:          metrics,
		CORSAllowOrigins: cfg.corsOrigins(),
	})
	if err != nil {
		return err
	}

	listener, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	reconciler := workflows.NewReconciler(dispatcher, workflows.ReconcilerConfig{
		Interval: cfg.ReconcileInterval,
		Logger:   logger,
	})
	metrics.TrackReconciler(reconciler)
	reconcileCtx, stopReconciler := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		reconciler.Run(reconcileCtx)
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(listener) }()
	logger.Info("listening", "addr", listener.Addr().String(), "version", version, "replica", dispatcher.ReplicaID(),
		"database", st.Dialect(), "engine", engine.Name(), "redis", cfg.RedisURL != "")

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		// SIGTERM: stop accepting, let in-flight requests finish, then stop
		// the reconciler. Unfinished jobs stay in the database and are
		// picked up by the next process on the same database.
		logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		err = srv.Shutdown(shutdownCtx)
		cancel()
	}
	stopReconciler()
	wg.Wait()
	handOver(dispatcher, runtime, logger)

	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		logger.Error("server stopped with an error", "error", err)
		return err
	}
	logger.Info("stopped")
	return nil
}

// handOver stops the in-process workflows and releases their leases, so
// another replica on the same database resumes them at once instead of
// after the lease TTL.
func handOver(dispatcher *workflows.Dispatcher, runtime engineRuntime, logger *slog.Logger) {
	runtime.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := dispatcher.ReleaseLeases(ctx)
	if err != nil {
		logger.Error("releasing job leases failed; other replicas resume the jobs when the leases expire", "error", err)
		return
	}
	if n > 0 {
		logger.Info("handed unfinished jobs over to other replicas", "jobs", n)
	}
}

// newLocker returns the Redis locker when a Redis URL is configured and the
// in-process locker otherwise. An unreachable Redis does not stop the start:
// the readiness probe reports it and operations that need a lock respond
// with 503 until it is back.
func newLocker(ctx context.Context, cfg *config, logger *slog.Logger) (workflows.Locker, func(), error) {
	if cfg.RedisURL == "" {
		return workflows.NewMemoryLocker(), func() {}, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid Redis URL: %w", err)
	}
	redis.SetLogger(redisLogger{logger})
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		logger.Warn("Redis is unreachable; lock-guarded operations respond with 503 until it is back",
			"redis_addr", opts.Addr, "error", err)
	}
	return workflows.NewRedisLocker(client, ""), func() { client.Close() }, nil
}

func newLogger(cfg *config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		return nil, fmt.Errorf("unknown log level %q: use debug, info, warn or error", cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// redisLogger sends go-redis's own messages (dial failures, pool events)
// through the service's logger, so they share its format.
type redisLogger struct {
	logger *slog.Logger
}

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

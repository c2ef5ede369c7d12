package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// metricsNamespace prefixes every metric of the service.
const metricsNamespace = "onboarding"

// scrapeTimeout bounds the database queries made while serving /metrics.
const scrapeTimeout = 5 * time.Second

// Metrics holds the service's Prometheus metrics and serves them at
// /metrics. Request metrics come from a middleware. Job and queue gauges are
// read from the database at scrape time, so every replica reports the same
// totals for them.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	lockWait *prometheus.HistogramVec
	gauges   *storeCollector
}

// MetricsSources are the inputs of the scrape-time gauges.
type MetricsSources struct {
	Store  *store.Store
	Logger *slog.Logger
}

// NewMetrics registers the service's metrics and the Go runtime and process
// collectors on a registry of its own.
func NewMetrics(src MetricsSources) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "http_requests_total",
			Help:      "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace,
			Name:      "http_request_duration_seconds",
			Help:      "HTTP request latency by route template and method.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"route", "method"}),
		lockWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace,
			Name:      "lock_wait_seconds",
			Help:      "Time spent obtaining per-config locks, by outcome (obtained, timeout, unavailable).",
			Buckets:   []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
	}
	if src.Logger == nil {
		src.Logger = slog.Default()
	}
	m.gauges = &storeCollector{src: src}
	m.registry.MustRegister(
		m.requests, m.latency, m.lockWait,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.gauges,
	)
	return m
}

// MustRegister adds collectors to the registry served at /metrics, such as
// those of the workflow engine; it panics on a duplicate, like
// prometheus.MustRegister.
func (m *Metrics) MustRegister(collectors ...prometheus.Collector) {
	m.registry.MustRegister(collectors...)
}

// ReconcilerProgress is the reconciler's state that /metrics reports.
type ReconcilerProgress interface {
	// LastPass returns when the last pass finished; zero before the first.
	LastPass() time.Time
	// Errors counts the jobs and queued actions passes failed to handle.
	Errors() uint64
}

// TrackReconciler makes /metrics report the time since r's last pass and
// its error count. Call it before the server starts serving.
func (m *Metrics) TrackReconciler(r ReconcilerProgress) {
	m.gauges.reconciler = r
}

// ObserveLockWait records how long obtaining a lock took; it fits
// workflows.ObservedLocker.
func (m *Metrics) ObserveLockWait(wait time.Duration, err error) {
	outcome := "obtained"
	switch {
	case errors.Is(err, workflows.ErrLockUnavailable):
		outcome = "unavailable"
	case err != nil:
		outcome = "timeout"
	}
	m.lockWait.WithLabelValues(outcome).Observe(wait.Seconds())
}

// middleware counts requests and measures their latency by route template,
// so unknown paths do not create new series.
func (m *Metrics) middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			route := c.Path()
			if route == "" || c.Response().Status == 404 && route == "/*" {
				route = "unmatched"
			}
			method := c.Request().Method
			if !knownMethods[method] {
				method = "other"
			}
			m.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status)).Inc()
			m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
			return err
		}
	}
}

// knownMethods are the HTTP methods that get their own label value. Any
// other method token counts as "other", so clients cannot create series at
// will.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

func (m *Metrics) handler() echo.HandlerFunc {
	// ContinueOnError serves every metric that could be gathered: a database
	// outage then leaves the request and reconciler metrics readable.
	return echo.WrapHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
}

// storeCollector reads job and queue gauges from the database at scrape time.
type storeCollector struct {
	src        MetricsSources
	reconciler ReconcilerProgress
}

var (
	jobsDesc = prometheus.NewDesc(metricsNamespace+"_jobs",
		"Jobs in the database by status.", []string{"status"}, nil)
	queueDesc = prometheus.NewDesc(metricsNamespace+"_queued_actions",
		"Actions queued behind a running workflow of their config.", nil, nil)
	oldestDesc = prometheus.NewDesc(metricsNamespace+"_oldest_unfinished_job_age_seconds",
		"Age of the oldest pending or running job; 0 when there is none.", nil, nil)
	lagDesc = prometheus.NewDesc(metricsNamespace+"_reconciler_lag_seconds",
		"Time since this replica's reconciler last finished a pass.", nil, nil)
	reconcileErrorsDesc = prometheus.NewDesc(metricsNamespace+"_reconciler_errors_total",
		"Jobs and queued actions this replica's reconciler failed to handle; each is retried on the next pass.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- queueDesc
	ch <- oldestDesc
	ch <- lagDesc
	ch <- reconcileErrorsDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()

	stats, err := c.src.Store.JobStats(ctx)
	if err != nil {
		c.src.Logger.Error("reading job metrics failed", "error", err)
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
	} else {
		for _, status := range []store.JobStatus{store.JobPending, store.JobRunning, store.JobSucceeded, store.JobFailed} {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(stats.ByStatus[status]), string(status))
		}
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(stats.QueuedActions))
		age := 0.0
		if !stats.OldestUnfinished.IsZero() {
			age = time.Since(stats.OldestUnfinished).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	}

	if c.reconciler != nil {
		if last := c.reconciler.LastPass(); !last.IsZero() {
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, time.Since(last).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(reconcileErrorsDesc, prometheus.CounterValue, float64(c.reconciler.Errors()))
	}
}

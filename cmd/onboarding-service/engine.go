package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argofake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scanner-ops/onboarding-service/server"
	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
	"github.com/scanner-ops/onboarding-service/workflows/argo"
	"github.com/scanner-ops/onboarding-service/workflows/argo/argotest"
)

// Engine names accepted by ONBOARDING_ENGINE.
const (
	engineLocal    = "local"
	engineArgo     = "argo"
	engineArgoFake = "argo-fake"
)

// engineRuntime is the configured workflow engine and how to stop it.
type engineRuntime struct {
	engine workflows.Engine
	// stop ends the engine's background work; in-process workflows stop
	// where they are, to be resumed by another process.
	stop func()
}

// newEngine builds the engine cfg names. ctx bounds the engine's watches
// and, for argo-fake, its simulated controller.
func newEngine(ctx context.Context, cfg *config, st *store.Store, metrics *server.Metrics, logger *slog.Logger) (engineRuntime, error) {
	switch cfg.Engine {
	case engineLocal:
		local := workflows.NewLocalEngine(workflows.LocalConfig{
			StepDelay: instantIfZero(cfg.LocalStepDelay),
			Retries:   noneIfZero(cfg.LocalRetries),
			Logger:    logger,
		})
		return engineRuntime{engine: local, stop: local.Close}, nil

	case engineArgo:
		engine, err := argo.New(cfg.argoConfig(logger))
		if err != nil {
			return engineRuntime{}, fmt.Errorf("configuring the argo engine: %w", err)
		}
		return startArgo(ctx, engine, metrics), nil

	case engineArgoFake:
		return startArgoFake(ctx, cfg, st, metrics, logger)
	}
	return engineRuntime{}, fmt.Errorf("unknown engine %q", cfg.Engine)
}

func startArgo(ctx context.Context, engine *argo.Engine, metrics *server.Metrics) engineRuntime {
	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	engine.Start(watchCtx)
	metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "onboarding_argo_unpicked_workflows_total",
		Help: "Workflows that stayed without a phase longer than the unpicked threshold: no Argo controller ran them.",
	}, func() float64 { return float64(engine.UnpickedWorkflows()) }))
	return engineRuntime{engine: engine, stop: cancel}
}

// startArgoFake runs the argo engine against Argo's fake clientset, an
// in-memory Kubernetes API, with a built-in controller that advances the
// workflows the way Argo's does. It exercises the whole argo code path
// without a cluster; workflows live in memory and are lost with the
// process. Failures come from the scanners' simulate settings, as with the
// local engine.
func startArgoFake(ctx context.Context, cfg *config, st *store.Store, metrics *server.Metrics, logger *slog.Logger) (engineRuntime, error) {
	argoCfg := cfg.argoConfig(logger)
	client := argofake.NewSimpleClientset()
	if err := argotest.InstallTemplates(ctx, client, argoCfg.Namespace); err != nil {
		return engineRuntime{}, fmt.Errorf("installing the workflow templates in the fake cluster: %w", err)
	}
	engine := argo.NewWithClient(client, argoCfg)

	runtime := startArgo(ctx, engine, metrics)
	controllerCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	controller := &argotest.Controller{
		Client:     client,
		Namespace:  argoCfg.Namespace,
		InstanceID: argoCfg.InstanceID,
		StepDelay:  cfg.LocalStepDelay,
		RetryDelay: cfg.LocalStepDelay,
		FailStep:   simulatedFailures(st, logger),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := controller.Run(controllerCtx); err != nil {
			logger.Error("the simulated Argo controller stopped", "error", err)
		}
	}()
	stopWatch := runtime.stop
	runtime.stop = func() {
		cancel()
		<-done
		stopWatch()
	}
	logger.Warn("using the argo-fake engine: workflows run in an in-memory Kubernetes API and are lost on exit")
	return runtime, nil
}

// simulatedFailures returns the failure injection of the fake controller:
// the simulate block of the workflow's scanner, read from the store by the
// raw ids the engine annotates workflows with.
func simulatedFailures(st *store.Store, logger *slog.Logger) func(wf *v1alpha1.Workflow) (string, int) {
	return func(wf *v1alpha1.Workflow) (string, int) {
		orgID, configID := wf.Annotations[argo.AnnotationOrgID], wf.Annotations[argo.AnnotationConfigID]
		scanner, err := st.GetScanner(context.Background(), orgID, configID)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				logger.Warn("reading simulated failures failed", "workflow", wf.Name, "error", err)
			}
			return "", 0
		}
		if scanner.Simulate == nil {
			return "", 0
		}
		return scanner.Simulate.FailAtStep, scanner.Simulate.Failures
	}
}

// instantIfZero maps a configured step delay of 0 ("no delay") to the
// local engine's value for instant steps; the engine reads 0 as its default.
func instantIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// noneIfZero maps a configured retry count of 0 ("no retry") to the local
// engine's value for none; the engine reads 0 as its default.
func noneIfZero(retries int) int {
	if retries == 0 {
		return -1
	}
	return retries
}

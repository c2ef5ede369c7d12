// Package argo runs the scanner operations as Argo Workflows on Kubernetes.
// Each job becomes a Workflow named after the job id that references the
// operation's WorkflowTemplate (package templates). The engine reads the
// job's state back from the Workflow's phase and node tree, and it signals
// changes seen by a watch on the Workflows of its namespace.
package argo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/scanner-ops/onboarding-service/workflows"
)

// Defaults of Config.
const (
	DefaultNamespace     = "default"
	DefaultUnpickedAfter = 5 * time.Minute
	// DefaultCallTimeout and DefaultSubmitTimeout are the defaults of
	// Config.CallTimeout and Config.SubmitTimeout.
	DefaultCallTimeout   = 10 * time.Second
	DefaultSubmitTimeout = 15 * time.Second
)

// DefaultSubmitBackoff spaces the attempts of a create or get that failed
// with a transient API error: 5 attempts, 200ms apart at first, doubling,
// with 20% jitter, so about 3s in all. Attempts also stop at the context's
// deadline.
var DefaultSubmitBackoff = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 5, Cap: 5 * time.Second}

// DefaultWatchBackoff spaces the restarts of the workflow watch: 1s at
// first, doubling up to 1m, reset after a watch that delivered an event.
var DefaultWatchBackoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.2, Steps: 1 << 30, Cap: time.Minute}

// ErrNameConflict means a workflow of the job's name exists but was
// created for another job (its job-id annotation differs). Errors wrapping
// it also wrap workflows.ErrPermanent.
var ErrNameConflict = errors.New("workflow name is taken by another job")

// Config configures an Engine.
type Config struct {
	// Namespace contains the workflows and their templates
	// (ONBOARDING_ARGO_NAMESPACE). Empty means DefaultNamespace.
	Namespace string
	// Kubeconfig is the path of a kubeconfig file whose current context is
	// used (ONBOARDING_KUBECONFIG). Empty means the in-cluster
	// configuration of the pod's service account.
	Kubeconfig string
	// InstanceID, when set, is written to the
	// workflows.argoproj.io/controller-instanceid label so that only the
	// Argo controller started with that instance id runs the workflows
	// (ONBOARDING_ARGO_INSTANCE_ID). Empty means the controller without an
	// instance id.
	InstanceID string
	// ServiceAccount is the service account of the step pods
	// (ONBOARDING_ARGO_SERVICE_ACCOUNT). Empty means the namespace's default
	// service account, or the one set in Argo's workflow defaults.
	ServiceAccount string
	// Logger receives transient API errors that are retried, watch restarts
	// and workflows that no controller picks up. Nil means slog.Default().
	Logger *slog.Logger
	// SubmitBackoff spaces the retries of transient API errors in Submit.
	// The zero value means DefaultSubmitBackoff; Steps is the maximum
	// number of attempts.
	SubmitBackoff wait.Backoff
	// WatchBackoff spaces the restarts of the watch started by Start. The
	// zero value means DefaultWatchBackoff.
	WatchBackoff wait.Backoff
	// CallTimeout bounds one read of the Kubernetes API (Status, Ping), and
	// SubmitTimeout one Submit with its retries, so that a stalled API
	// server cannot hold a request or the reconciler forever. Zero means
	// DefaultCallTimeout and DefaultSubmitTimeout.
	CallTimeout   time.Duration
	SubmitTimeout time.Duration
	// UnpickedAfter is how long a workflow may stay without a phase before
	// the engine warns that no workflow controller picked it up. Zero means
	// DefaultUnpickedAfter (5m).
	UnpickedAfter time.Duration
}

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SubmitBackoff.Steps == 0 {
		cfg.SubmitBackoff = DefaultSubmitBackoff
	}
	if cfg.WatchBackoff.Steps == 0 {
		cfg.WatchBackoff = DefaultWatchBackoff
	}
	if cfg.UnpickedAfter <= 0 {
		cfg.UnpickedAfter = DefaultUnpickedAfter
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.SubmitTimeout <= 0 {
		cfg.SubmitTimeout = DefaultSubmitTimeout
	}
	return cfg
}

// Validate checks the fields that the API server or the Argo controller
// would otherwise reject on every submission. Empty fields are valid
// because they take defaults.
func (cfg Config) Validate() error {
	cfg = cfg.withDefaults()
	if errs := validation.IsDNS1123Label(cfg.Namespace); len(errs) > 0 {
		return fmt.Errorf("invalid Argo namespace %q: %s", cfg.Namespace, errs[0])
	}
	if cfg.InstanceID != "" {
		if errs := validation.IsValidLabelValue(cfg.InstanceID); len(errs) > 0 {
			return fmt.Errorf("invalid Argo controller instance id %q: %s", cfg.InstanceID, errs[0])
		}
	}
	if cfg.ServiceAccount != "" {
		if errs := validation.IsDNS1123Subdomain(cfg.ServiceAccount); len(errs) > 0 {
			return fmt.Errorf("invalid service account name %q: %s", cfg.ServiceAccount, errs[0])
		}
	}
	return nil
}

// Engine runs workflows.Engine operations as Argo Workflows. It implements
// workflows.Notifier once Start has been called. It is safe for
// concurrent use.
type Engine struct {
	client   versioned.Interface
	cfg      Config
	selector labels.Selector

	changes chan struct{}
	started atomic.Bool

	mu sync.Mutex
	// unpickedWarned contains the workflows already reported as not picked
	// up, so that each is logged once. An entry is removed when its workflow
	// gets a phase or disappears.
	unpickedWarned map[string]struct{}
	unpickedTotal  atomic.Int64
}

// Compile-time checks that Engine implements the engine port and the
// change notifier.
var (
	_ workflows.Engine   = (*Engine)(nil)
	_ workflows.Notifier = (*Engine)(nil)
)

// New builds an Engine with a clientset from cfg.Kubeconfig, or from the
// in-cluster configuration when it is empty.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	var restConfig *rest.Config
	var err error
	if cfg.Kubeconfig != "" {
		restConfig, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	} else {
		restConfig, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("loading the Kubernetes client configuration (kubeconfig %q, empty means in-cluster): %w",
			cfg.Kubeconfig, err)
	}
	restConfig.UserAgent = "onboarding-service"
	// client-go's default of 5 requests per second is too low for a
	// reconciler that reads every unfinished job on each pass.
	restConfig.QPS = 50
	restConfig.Burst = 100

	client, err := versioned.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("creating the Argo Workflows client: %w", err)
	}
	return NewWithClient(client, cfg), nil
}

// NewWithClient builds an Engine on an existing clientset, such as the fake
// clientset of tests. Unlike New it does not validate cfg, and it panics
// when cfg.InstanceID is not a valid label value.
func NewWithClient(client versioned.Interface, cfg Config) *Engine {
	cfg = cfg.withDefaults()
	return &Engine{
		client:         client,
		cfg:            cfg,
		selector:       ownSelector(cfg.InstanceID),
		changes:        make(chan struct{}, 1),
		unpickedWarned: make(map[string]struct{}),
	}
}

// Name returns "argo", the engine's name in job rows.
func (e *Engine) Name() string { return "argo" }

// Namespace returns the namespace of the engine's workflows.
func (e *Engine) Namespace() string { return e.cfg.Namespace }

// Ping lists at most one of the engine's workflows, which checks the
// connection, the credentials, the list permission and that the Argo CRDs
// are installed.
func (e *Engine) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	defer cancel()
	_, err := e.client.ArgoprojV1alpha1().Workflows(e.cfg.Namespace).List(ctx, listOptions(e.selector, 1))
	if err != nil {
		return fmt.Errorf("listing Argo workflows in namespace %s: %w", e.cfg.Namespace, err)
	}
	return nil
}

// UnpickedWorkflows returns how many workflows have stayed without a phase
// longer than Config.UnpickedAfter since the engine started, each counted
// once. The count only grows, so it can back a Prometheus CounterFunc.
func (e *Engine) UnpickedWorkflows() int {
	return int(e.unpickedTotal.Load())
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/scanner-ops/onboarding-service/workflows/argo"
)

// config is the service's configuration. Every field has an environment
// variable and a flag of the same meaning; a flag wins over the variable.
type config struct {
	Listen            string
	DatabaseURL       string
	DBMaxOpenConns    int
	DBMaxIdleConns    int
	DBConnMaxLifetime time.Duration
	RedisURL          string
	Engine            string
	ArgoNamespace     string
	Kubeconfig        string
	ArgoInstanceID    string
	ArgoSA            string
	ArgoUnpicked      time.Duration
	JWTSecret         string
	JWKSURL           string
	JWTIssuer         string
	JWTAudience       string
	LocalStepDelay    time.Duration
	LocalRetries      int
	ReconcileInterval time.Duration
	ReplicaID         string
	LeaseTTL          time.Duration
	CORSOrigins       string
	LogLevel          string
	LogFormat         string
	ShutdownTimeout   time.Duration
}

// registerConfig defines every setting on fs with its environment value as
// the default, and returns a function reporting environment values that
// could not be parsed.
func registerConfig(fs *flag.FlagSet, c *config) func() error {
	var envErrs []string
	str := func(p *string, name, env, def, usage string) {
		v := def
		if e, ok := os.LookupEnv(env); ok {
			v = e
		}
		fs.StringVar(p, name, v, usage+" (env "+env+")")
	}
	dur := func(p *time.Duration, name, env string, def time.Duration, usage string) {
		v := def
		if e, ok := os.LookupEnv(env); ok && e != "" {
			d, err := time.ParseDuration(e)
			if err != nil {
				envErrs = append(envErrs, fmt.Sprintf("%s=%q is not a duration such as 500ms or 2s", env, e))
			}
			v = d
		}
		fs.DurationVar(p, name, v, usage+" (env "+env+")")
	}
	num := func(p *int, name, env string, def int, usage string) {
		v := def
		if e, ok := os.LookupEnv(env); ok && e != "" {
			n, err := strconv.Atoi(e)
			if err != nil {
				envErrs = append(envErrs, fmt.Sprintf("%s=%q is not an integer", env, e))
			}
			v = n
		}
		fs.IntVar(p, name, v, usage+" (env "+env+")")
	}

	str(&c.Listen, "listen", "ONBOARDING_LISTEN", ":8082", "HTTP listen address")
	str(&c.DatabaseURL, "database-url", "ONBOARDING_DATABASE_URL", "data/onboarding.db", "SQLite file path or postgres:// URL")
	num(&c.DBMaxOpenConns, "db-max-open-conns", "ONBOARDING_DB_MAX_OPEN_CONNS", 0, "maximum open PostgreSQL connections; 0 means 10")
	num(&c.DBMaxIdleConns, "db-max-idle-conns", "ONBOARDING_DB_MAX_IDLE_CONNS", 0, "idle PostgreSQL connections kept; 0 means 5")
	dur(&c.DBConnMaxLifetime, "db-conn-max-lifetime", "ONBOARDING_DB_CONN_MAX_LIFETIME", 0, "PostgreSQL connection lifetime; 0 means 30m")
	str(&c.RedisURL, "redis-url", "ONBOARDING_REDIS_URL", "", "redis:// URL for distributed locks; empty uses in-process locks")
	str(&c.Engine, "engine", "ONBOARDING_ENGINE", "local", "workflow engine: local, argo, or argo-fake (argo against an in-memory cluster, for tests)")
	str(&c.ArgoNamespace, "argo-namespace", "ONBOARDING_ARGO_NAMESPACE", "default", "namespace of the Argo workflows and templates")
	str(&c.Kubeconfig, "kubeconfig", "ONBOARDING_KUBECONFIG", "", "kubeconfig path for the argo engine; empty uses the in-cluster service account")
	str(&c.ArgoInstanceID, "argo-instance-id", "ONBOARDING_ARGO_INSTANCE_ID", "", "Argo controller instance id set on workflows; empty means none")
	dur(&c.ArgoUnpicked, "argo-unpicked-after", "ONBOARDING_ARGO_UNPICKED_AFTER", 5*time.Minute, "how long a workflow may stay without a phase before it is reported as not picked up by any Argo controller")
	str(&c.ArgoSA, "argo-service-account", "ONBOARDING_ARGO_SERVICE_ACCOUNT", "", "service account of the step pods; empty means the namespace default")
	str(&c.JWTSecret, "jwt-secret", "ONBOARDING_JWT_SECRET", "", "HS256 secret of bearer tokens, at least 32 bytes")
	str(&c.JWKSURL, "jwks-url", "ONBOARDING_JWKS_URL", "", "JWKS URL of RS256/ES256 token keys, instead of a secret")
	str(&c.JWTIssuer, "jwt-issuer", "ONBOARDING_JWT_ISSUER", "", "required token issuer (iss); empty accepts any")
	str(&c.JWTAudience, "jwt-audience", "ONBOARDING_JWT_AUDIENCE", "", "required token audience (aud); empty accepts any")
	dur(&c.LocalStepDelay, "local-step-delay", "ONBOARDING_LOCAL_STEP_DELAY", 2*time.Second, "duration of each step of the local engine")
	num(&c.LocalRetries, "local-retries", "ONBOARDING_LOCAL_RETRIES", 3, "retries of a failing step in the local engine")
	dur(&c.ReconcileInterval, "reconcile-interval", "ONBOARDING_RECONCILE_INTERVAL", 2*time.Second, "time between two reconciler passes")
	str(&c.ReplicaID, "replica-id", "ONBOARDING_REPLICA_ID", "", "name of this replica in job leases; empty derives one from the host name and process id")
	dur(&c.LeaseTTL, "lease-ttl", "ONBOARDING_LEASE_TTL", 30*time.Second, "how long a replica owns the local-engine jobs it runs without renewing; others resume them after it")
	str(&c.CORSOrigins, "cors-origins", "ONBOARDING_CORS_ORIGINS", "", "comma-separated browser origins allowed to call the API; * allows any")
	str(&c.LogLevel, "log-level", "ONBOARDING_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	str(&c.LogFormat, "log-format", "ONBOARDING_LOG_FORMAT", "json", "log format: json or text")
	dur(&c.ShutdownTimeout, "shutdown-timeout", "ONBOARDING_SHUTDOWN_TIMEOUT", 30*time.Second, "time given to in-flight requests on SIGTERM")

	return func() error {
		if len(envErrs) > 0 {
			return fmt.Errorf("invalid environment: %s", strings.Join(envErrs, "; "))
		}
		return nil
	}
}

// validate checks the values that every command relies on.
func (c *config) validate() error {
	if strings.TrimSpace(c.Listen) == "" {
		return errors.New("the listen address is empty: set ONBOARDING_LISTEN or --listen, such as :8082 or 127.0.0.1:8082")
	}
	switch c.Engine {
	case engineLocal, engineArgo, engineArgoFake:
	default:
		return fmt.Errorf("unknown engine %q: use local, argo or argo-fake", c.Engine)
	}
	if c.Engine != engineLocal {
		if err := c.argoConfig(nil).Validate(); err != nil {
			return err
		}
	}
	if c.LocalStepDelay < 0 {
		return fmt.Errorf("local step delay %s is negative", c.LocalStepDelay)
	}
	if c.LocalRetries < 0 {
		return fmt.Errorf("local retries %d is negative", c.LocalRetries)
	}
	if c.ReconcileInterval <= 0 {
		return fmt.Errorf("reconcile interval %s must be positive", c.ReconcileInterval)
	}
	if c.LeaseTTL < 2*c.ReconcileInterval {
		return fmt.Errorf("lease TTL %s must be at least twice the reconcile interval %s, which renews leases",
			c.LeaseTTL, c.ReconcileInterval)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		return fmt.Errorf("unknown log format %q: use json or text", c.LogFormat)
	}
	return nil
}

func (c *config) corsOrigins() []string {
	var out []string
	for _, o := range strings.Split(c.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// argoConfig returns the argo engine's configuration.
func (c *config) argoConfig(logger *slog.Logger) argo.Config {
	return argo.Config{
		Namespace:      c.ArgoNamespace,
		Kubeconfig:     c.Kubeconfig,
		InstanceID:     c.ArgoInstanceID,
		ServiceAccount: c.ArgoSA,
		UnpickedAfter:  c.ArgoUnpicked,
		Logger:         logger,
	}
}

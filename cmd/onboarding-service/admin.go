package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/scanner-ops/onboarding-service/server/auth"
	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// defaultTokenTTL is the lifetime of tokens printed by the token command.
const defaultTokenTTL = time.Hour

func runToken(args []string, stdout, stderr io.Writer) error {
	var orgID, host string
	var ttl time.Duration
	var printCurl bool
	cfg, _, err := parseFlags("token", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&orgID, "org", "", "organisation id put in the token's org-id claim (required)")
		fs.DurationVar(&ttl, "ttl", defaultTokenTTL, "token lifetime")
		fs.BoolVar(&printCurl, "print-curl", false, "also print export lines and a first curl command")
		fs.StringVar(&host, "host", "", "base URL used in the printed curl command; empty derives it from --listen")
	})
	if err != nil {
		return err
	}
	if orgID == "" {
		return errors.New("--org is required: the organisation id to put in the token's org-id claim")
	}
	if !store.ValidOrgID(orgID) {
		return fmt.Errorf("--org %q is invalid: use 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' or '-'", orgID)
	}
	if cfg.JWTSecret == "" {
		return errors.New("token needs the HS256 secret: set ONBOARDING_JWT_SECRET or --jwt-secret")
	}
	if ttl <= 0 {
		return fmt.Errorf("--ttl %s must be positive", ttl)
	}

	token, err := auth.Mint([]byte(cfg.JWTSecret), orgID, ttl, time.Now())
	if err != nil {
		return err
	}
	if !printCurl {
		fmt.Fprintln(stdout, token)
		return nil
	}

	if host == "" {
		host = baseURL(cfg.Listen)
	}
	fmt.Fprintf(stdout, `Token for %[1]s, valid for %[2]s. Once the server below is listening, list the
organisation's scanners from another shell:

curl -s "%[3]s/api/v1/%[1]s/scanners" -H "Authorization: Bearer %[4]s"

To replay the README's and the API guide's examples, export their variables first:

export HOST=%[3]s ORG_ID=%[1]s TOKEN=%[4]s

`, orgID, ttl, host, token)
	return nil
}

// baseURL turns a listen address such as ":8082" into a URL for curl.
func baseURL(listen string) string {
	if len(listen) > 0 && listen[0] == ':' {
		return "http://localhost" + listen
	}
	return "http://" + listen
}

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, fs, err := parseFlags("seed", args, stderr, nil)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("seed takes exactly one fixture file: onboarding-service seed FILE")
	}
	path := fs.Arg(0)

	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening fixture: %w", err)
	}
	defer f.Close()
	fixture, err := store.DecodeFixture(f)
	if err != nil {
		return fmt.Errorf("fixture %s: %w", path, err)
	}
	if err := checkSimulatedSteps(fixture); err != nil {
		return fmt.Errorf("fixture %s: %w", path, err)
	}

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	result, err := st.Seed(ctx, fixture)
	if err != nil {
		return fmt.Errorf("seeding %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "Seeded %s: %d organisations, %d cloud organisations, %d scanners.\n",
		path, result.Organizations, result.CloudOrganizations, result.Scanners)
	return nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := parseFlags("migrate", args, stderr, nil)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "Database migrated (%s).\n", st.Dialect())
	return nil
}

// openStore connects to the configured database and applies migrations.
func openStore(ctx context.Context, cfg *config) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{
		MaxOpenConns:    cfg.DBMaxOpenConns,
		MaxIdleConns:    cfg.DBMaxIdleConns,
		ConnMaxLifetime: cfg.DBConnMaxLifetime,
	})
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating database: %w", err)
	}
	return st, nil
}

// checkSimulatedSteps rejects a simulate block whose failAtStep names no
// step of any operation: such a failure would never happen.
func checkSimulatedSteps(f store.Fixture) error {
	known := map[string]bool{}
	var names []string
	for _, op := range []workflows.Operation{workflows.OperationRemove, workflows.OperationReinstall, workflows.OperationUninstall} {
		for _, step := range workflows.Steps[op] {
			if !known[step] {
				known[step] = true
				names = append(names, step)
			}
		}
	}

	for i, org := range f.Organizations {
		for j, cloudOrg := range org.CloudOrganizations {
			for k, s := range cloudOrg.Scanners {
				if s.Simulate == nil || s.Simulate.FailAtStep == "" || known[s.Simulate.FailAtStep] {
					continue
				}
				return fmt.Errorf("organizations[%d].cloudOrganizations[%d].scanners[%d].simulate.failAtStep: unknown step %q: use one of %s",
					i, j, k, s.Simulate.FailAtStep, strings.Join(names, ", "))
			}
		}
	}
	return nil
}

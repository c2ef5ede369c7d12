package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/scanner-ops/onboarding-service/server/auth"
	"github.com/scanner-ops/onboarding-service/store"
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

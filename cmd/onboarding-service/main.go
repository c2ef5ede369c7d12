// Command onboarding-service runs the scanner operations service and its
// administration commands.
//
//	onboarding-service [serve]                 serve the HTTP API (the default)
//	onboarding-service token --org ORG [--ttl D] print a bearer token for ORG
//	onboarding-service seed FILE               load a fixture, idempotently
//	onboarding-service migrate                 apply database migrations
//	onboarding-service workflow render ...     print the Argo Workflow of one operation
//	onboarding-service version                 print the version
//
// Every command reads the configuration from ONBOARDING_* environment
// variables, overridable by flags; `onboarding-service COMMAND -h` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Usage: onboarding-service [COMMAND] [FLAGS]

Commands:
  serve                  serve the HTTP API (default)
  token --org ORG        print a bearer token for ORG, signed with the HS256 secret
  seed FILE              load a fixture of organisations, cloud organisations and scanners
  migrate                apply database migrations
  workflow render        print, as YAML, the Argo Workflow the service would submit for one operation
  version                print the version

Run 'onboarding-service COMMAND -h' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // the flag package has printed the help
		}
		fmt.Fprintln(os.Stderr, "onboarding-service:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	command := "serve"
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
		command = "help"
	case len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-':
		command, args = args[0], args[1:]
	}

	switch command {
	case "serve":
		return runServe(ctx, args, stderr)
	case "token":
		return runToken(args, stdout, stderr)
	case "seed":
		return runSeed(ctx, args, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr)
	case "workflow":
		if len(args) == 0 || args[0] != "render" {
			fmt.Fprint(stderr, usage)
			return errors.New("unknown workflow command: use 'workflow render'")
		}
		return runWorkflowRender(args[1:], stdout, stderr)
	case "version":
		if len(args) > 0 {
			return fmt.Errorf("version takes no arguments, got %q", args[0])
		}
		fmt.Fprintln(stdout, version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", command)
	}
}

// parseFlags registers the configuration on a flag set named after the
// command, parses args and validates the result. Only seed takes
// positional arguments; any other command rejects them.
func parseFlags(command string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (*config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("onboarding-service "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	envErr := registerConfig(fs, cfg)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if command != "seed" && fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("%s takes no arguments, got %q", command, fs.Arg(0))
	}
	if err := envErr(); err != nil {
		return nil, nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	return cfg, fs, nil
}

// Package tests holds black-box tests of the onboarding service. Each test
// starts the real binary on a loopback port against a fresh SQLite file or
// PostgreSQL schema seeded with `onboarding-service seed`. It then drives the
// server over HTTP with the generated client, which checks every response
// against openapi/openapi.yaml.
//
// Run them with
//
//	go test -race -count=1 ./tests/
//
// and set ONBOARDING_TEST_POSTGRES_URL (for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run every test
// on PostgreSQL as well. Once it is set, an unreachable PostgreSQL fails the
// tests instead of skipping them.
package tests

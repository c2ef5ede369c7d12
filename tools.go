//go:build tools

// Package tools pins the code generator's version in go.mod, so that
// `make generate` produces the same gen/ on every machine.
package tools

import _ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"

// Package openapi embeds the service's OpenAPI document, the single source of
// truth for its HTTP contract.
package openapi

import _ "embed"

// YAML is openapi.yaml as written, served at /openapi.yaml.
//
//go:embed openapi.yaml
var YAML []byte

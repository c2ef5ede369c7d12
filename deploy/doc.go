// Package deploy holds the container image definition and the Kubernetes
// manifests of the service. Its tests check that they parse and agree with
// the service's configuration.
package deploy

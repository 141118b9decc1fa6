// Package controller is the controller-runtime glue of `dockhand controller`:
// a Store over the Kubernetes API server, watches, conditions, events and
// metrics around the steps in internal/engine.
//
// The package is being built under the controller issue; until then it holds
// only this description.
package controller

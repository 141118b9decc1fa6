// Package engine holds the reconcile steps of each kind, written once: given
// an object and a small Store interface (get and list objects, read secrets,
// write status) it scans, selects, updates, commits and pushes by calling the
// scanner, policy, updater and gitpush packages. Both the Kubernetes
// controller and the single-process runner call it.
//
// The package is being built under the controller and runner issues; until
// then it holds only this description.
package engine

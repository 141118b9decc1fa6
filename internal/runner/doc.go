// Package runner is the embedded default behind `dockhand run`: a Store over
// manifest files and a local bbolt file, and a scheduler that runs the steps
// in internal/engine on each object's interval.
//
// The package is being built under the runner issue; until then it holds
// only this description.
package runner

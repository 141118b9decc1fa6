// Package gitpush gets a working tree of a Git remote (shallow, sparse and
// cached between runs), commits what the updater changed with a rendered and
// optionally signed message, and delivers it: a push to a branch or refspec,
// or a pull request.
//
// It imports no Kubernetes client code and none of dockhand's other library
// packages: the change to make arrives as a callback over the working tree.
//
// The package is being built under the gitpush issue; until it lands it holds
// only this description.
package gitpush

// Package engine holds the reconcile steps of each kind, written once. Both
// the Kubernetes controller (internal/controller) and the single-process
// runner (internal/runner) call it, so the two ways of running dockhand
// behave the same.
//
// Each step takes an object and a Store (how to read the other objects and
// Secrets it depends on), does its work through the scanner, policy, updater
// and gitpush packages, and writes the outcome into the object's status
// (conditions following the kstatus conventions: Ready, Reconciling,
// Stalled). Persisting the status is the caller's job: the controller patches
// it, the runner keeps it in its state file. The returned Outcome says when
// to run again and whether retrying can help:
//
//   - an invalid spec (an image that does not parse, a bad range or regular
//     expression) stalls the object: Outcome.Terminal, no retries until the
//     spec changes;
//   - a missing dependency (a Secret, the ImageRepository of a policy, a
//     repository not scanned yet) is waited for quietly: Outcome.RequeueAfter;
//   - a transient failure (a registry answering 503, a push rejected after
//     every retry) is Outcome.Err, for the caller's backoff.
package engine

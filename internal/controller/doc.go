// Package controller is the controller-runtime glue of `dockhand controller`:
// a Store over the Kubernetes API server, one thin reconciler per kind around
// the steps in internal/engine, watches, Events and metrics.
//
// # Reconcilers
//
// Each reconciler gets its object (gone: nothing to do), handles deletion
// (ImageRepositories carry Finalizer, which removes their stored tags), calls
// the engine, and persists the status the engine wrote with one merge patch
// of the status subresource (none when nothing changed). The engine's
// Outcome is mapped once: an invalid spec is a reconcile.TerminalError (the
// object is Stalled and not retried until it changes); a missing dependency
// requeues after a delay without an error; any other failure is returned
// for controller-runtime's exponential backoff, except that a registry's
// Retry-After is honoured as the requeue delay. Suspended objects are left
// alone by the engine: Reconciling and Stalled are cleared, Ready keeps its
// last value.
//
// An Event (events.k8s.io/v1, reporting controller EventSource) is recorded
// only when the Ready condition changes status or reason: Normal for True,
// Warning otherwise. A failure retried with backoff therefore warns once.
//
// # What triggers a reconcile
//
//   - any kind: creation, a spec change (metadata.generation), a new value of
//     the request annotation image.dockhand.dev/requestedAt or
//     reconcile.fluxcd.io/requestedAt (acknowledged in
//     status.lastHandledReconcileAt), the interval, and the start of
//     deletion. Status updates, our own included, do not.
//   - ImagePolicy: its ImageRepository (in any namespace; the engine checks
//     spec.accessFrom) appears, goes away, changes spec, or gets a new
//     status.lastScanResult.revision, looked up through a field index of
//     policies by repository.
//   - ImageUpdateAutomation: a policy of its namespace that its
//     spec.policySelector selects appears, goes away, changes labels or
//     gets a new status.latestRef; and, when Flux's GitRepository kind is
//     installed, a spec change of the GitRepository in its spec.sourceRef.
//     Without the kind at start, automations with a sourceRef wait for it
//     as a missing dependency, and the controller asks for the kind every
//     Options.KindPollInterval and watches it once it is installed.
//
// # Reading the cluster
//
// Our kinds are read from the manager's cache. Secrets, ServiceAccounts,
// Namespaces and GitRepositories are read directly from the API server
// (Store.Live), as Flux does: caching every Secret costs memory and a
// cluster-wide watch for the few that are referenced. A GitRepository is
// read as unstructured source.toolkit.fluxcd.io/v1, so neither Flux's Go
// types nor Flux itself are needed.
//
// # The manager
//
// NewManager builds a manager from Options, whose zero values are
// documented per field: reconciles per kind (Concurrent), namespaces and a
// label selector to watch (sharding: the selector applies to our three
// kinds only), leader election on a Lease, a metrics server serving
// controller-runtime's and dockhand's metrics (see Metrics), and /healthz
// and /readyz probes (ready once the informers have synced).
package controller

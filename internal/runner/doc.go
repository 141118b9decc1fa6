// Package runner is the embedded default behind `dockhand run`: the steps
// of internal/engine over objects read from files, with their statuses kept
// in a local bbolt file instead of an API server.
//
// # State
//
// A State is one bbolt file holding the scanner's TagStore buckets (the tags
// of every ImageRepository) and a Record per object: the object as last
// reconciled, spec and status, plus what the API server would otherwise
// keep: a generation that grows when the spec changes between runs (a hash
// of the spec is recorded), the time the object was first seen (its
// creationTimestamp) and the file and line it came from. The file also
// records where the clone cache lives. bbolt locks the file: one process
// has it open for writing at a time, and keeps readers out too, so a
// process that holds it for long serves its records, and consistent copies
// of the whole file for dry runs, on a Unix socket beside it
// (State.ServeRecords, RecordsFromSocket, SnapshotFromSocket).
//
// The file describes the objects of the manifests last loaded: whenever a
// set of manifests is loaded (New, and each reload in Run), the records of
// objects read from its paths and no longer in them, and the tags of those
// ImageRepositories, are deleted (State.Prune). Records read from other
// paths (another set of manifests sharing the file), records of other
// kinds and the clone cache's location stay.
//
// # Steps and passes
//
// New merges each loaded object with its record (a status written in a
// manifest file is ignored) and writes the records back, so every object
// is listed from the start. The engine.Store it hands the engine returns
// copies; each step works on a copy of its object and writes the status
// back when it ends, so concurrent steps never share an object, and a
// policy always sees its repository's latest status.
//
// A pass runs every object once, in dependency order: a policy after its
// ImageRepository, an automation after the policies its selector picks,
// everything else at once, up to Options.Concurrency steps at a time.
// Once is the pass of `dockhand run --once`: it asks every repository and
// policy to reconcile now, as the image.dockhand.dev/requestedAt annotation
// does on a cluster (the annotation is not written to the state, the
// status's lastHandledReconcileAt is), so every repository is scanned
// whatever its interval; automations always look at the remote, and end
// after a ref lookup when neither the remote nor their policies changed.
//
// Status records are written by group commit (one transaction for every
// record that arrived while the previous one was being written) and
// flushed when a pass ends, so a pass costs a handful of disk syncs.
//
// Run is the long-running mode: a first pass (scanning only what is due),
// then each object on its own schedule: a repository every spec.interval;
// a policy when its repository's tags change (and on its interval with
// digest reflection Always); an automation every spec.interval and when
// one of its policies' latest image changes. A failed step is retried with
// exponential backoff (2s doubling to 5m by default, longer when a
// registry asks with Retry-After); an invalid spec is not retried.
//
// # Reloading
//
// Manifests reads and validates the files (manifest.Load, then a
// *ManifestError for every problem), at start and again in Run, which
// with Options.Manifests looks at them every ReloadInterval: a
// fingerprint of the paths, sizes and modification times, then a hash of
// the contents only when that changed. Files are loaded once they have
// stayed the same for one interval, never half written. New manifests
// that are invalid are
// reported (a Reloaded event with Reload.Err) and ignored until the files
// change again; the running objects go on unchanged. Valid ones take over
// between steps: no step starts, the steps under way finish, then each
// object that was already there keeps its status (a changed spec is a new
// generation), the state file forgets the removed ones, and objects added
// or changed run at once while removed ones leave the schedule. A
// Reloaded event lists what was added, changed and removed.
//
// Both take a stop channel and a context: closing stop starts no new step
// and lets the steps under way finish (a push is never cut in half);
// cancelling the context cancels those too.
//
// With Options.DryRun automations are planned (engine.PlanAutomation), not
// run: the Result carries the diff and commit message, nothing is pushed.
// Repositories are still scanned, so callers that must leave the state
// untouched run on a copy of it (State.CopyTo).
package runner

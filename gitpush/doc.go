// Package gitpush gets a working tree of a Git remote (shallow, sparse and
// cached between runs), commits what the caller changed with an optionally
// signed message, and delivers it: a push to a branch or refspec, or a pull
// request. It is what Flux's image-automation-controller does with Git,
// built on go-git.
//
// It imports no Kubernetes code and none of dockhand's other library
// packages. The change to make arrives as a callback over the working tree
// (ChangeFunc) that returns the commit message, so gitpush never sees the
// updater's result or the message template data: the engine runs the
// updater inside the callback and renders the message with the commitmsg
// package. Because it is a callback, a run can apply the change again on a
// new head when a push is rejected.
//
// # A run
//
// Client.Run(ctx, Request) does, in order:
//
//  1. Resolve the checkout (Checkout: branch, tag, semver range over tags,
//     full ref name or commit; default the remote's HEAD branch) with one
//     ref listing. If it resolves to Request.SkipIfHead the run ends here
//     with Result.Skipped: the engine sets SkipIfHead to the last commit the
//     automation saw when its policies have not changed since.
//  2. Open the cache entry for (remote URL, checkout, sparse paths) and
//     bring the commit in: the first fetch is shallow (depth 1), later ones
//     are incremental, carrying only the objects new since the commit the
//     cache holds. (A depth-1 fetch into a shallow repository makes the
//     server resend the whole tree; an incremental one does not. If the
//     remote no longer shares the cached history, the incremental fetch is
//     cut off after WithMaxIncrementalObjects objects and a shallow one is
//     made instead.) Commit checkouts fetch their branch in full.
//  3. Update the work tree: only the sparse paths (Request.Paths, the
//     update path) are written; files outside them are never read or
//     written and are kept in every commit. The work tree is updated by a
//     tree diff from the commit it holds, so an unchanged file is not
//     touched. Worktree.ChangedPaths reports the files that changed
//     upstream since the commit the entry last saw (nil on the first run:
//     treat every path as changed).
//  4. Call the ChangeFunc. It returns a Change: the message and, ideally,
//     the files it wrote (the updater knows them); only those are examined.
//     Without that list every file of the sparse paths is examined by
//     comparing size, mtime and mode against the stat data recorded at
//     checkout (Git's index technique, including its "racy" rule for files
//     written within the timestamp granularity), hashing only files that
//     differ. Nothing changed: no commit, no push. A run that fails after
//     the ChangeFunc started leaves a mark, and the next run restores the
//     work tree from a full scan before anything else.
//  5. Build the new tree by editing only the trees on the changed paths,
//     write the commit (author, committer, message, signature) and push.
//
// # Pushing
//
// Without PushOptions.Branch the commit goes to the checkout branch as a
// compare-and-swap: the remote branch must still be the commit the change
// was made on (never forced, never a lost upstream commit). When the remote
// moved, the run fetches the new head, resets the work tree, calls the
// ChangeFunc again (Worktree.Attempt counts) and retries, up to
// WithMaxAttempts with jittered exponential backoff (WithRetryBackoff), so
// many automations sharing one branch all land.
//
// With PushOptions.Branch the branch is rebuilt from the checkout branch
// plus the one commit and force-updated, because it belongs to the
// automation; NoForce refuses to overwrite commits made there by others. A
// push branch that already holds the same change on the same parent is not
// pushed again (so a pull request is not churned). PushOptions.Refspec is
// pushed as well, its source meaning the new commit; PushOptions.Options are
// sent as push options.
//
// # Remotes and credentials
//
// Remote.Auth comes from a Secret with Flux's key names (AuthFromSecret,
// ProxyFromSecret, SignerFromSecret) or is built directly: basic auth,
// bearer token, SSH key with optional passphrase and known_hosts, CA
// certificate, client certificate, proxy, GitHub App. SSH host keys are
// always checked against known_hosts; an SSH remote without known_hosts is
// refused (Auth.InsecureIgnoreHostKey is the explicit opt-out, for tests).
// Credentials over plain http:// are refused unless Auth.AllowInsecureHTTP.
//
// A GitHub App (app ID, installation ID or owner, private key, optional
// API base URL for GitHub Enterprise) signs an RS256 JWT and exchanges it
// for an installation token, cached in the Client until five minutes
// before it expires and used both as the HTTPS password (user
// x-access-token) and as the REST API token.
//
// # Pull requests
//
// Client.EnsurePullRequest opens a pull request from the push branch into
// a base branch, or updates the open one between those branches (title,
// body, added labels), so repeated runs never open duplicates. Providers:
// GitHub and GitHub Enterprise (App or token), GitLab merge requests,
// Gitea and Forgejo. Title and body arrive rendered (the engine renders
// them with commitmsg).
//
// # Errors
//
// Every error of a run is an *Error naming the step, the remote (without
// credentials) and the ref. Credentials that reached a lower layer's
// message are replaced by "[redacted]"; the cause is not kept, only its
// kind for errors.Is: ErrAuth, ErrRefNotFound, ErrRemoteMoved,
// ErrPushRejected, ErrInsecureHTTP, ErrNoKnownHosts and go-git's transport
// errors.
//
// # The cache
//
// Under the directory given to New, each entry holds a bare repository
// (inspectable with the git CLI), the work tree and a small state file. An
// entry is locked in process and with flock across processes; runs on one
// entry take turns, runs on different entries run in parallel. An entry
// with more than WithMaxPacks pack files (one per fetch) starts afresh.
// Deleting the cache directory between runs is always safe: the next run
// is a cold one.
package gitpush

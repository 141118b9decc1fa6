package engine

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/gitpush"
	"github.com/dockhand-dev/dockhand/scanner"
	"github.com/dockhand-dev/dockhand/updater"
)

// Options wires an Engine. Scanner and Tags are required; Git is required
// only for automations.
type Options struct {
	// Scanner lists tags and resolves digests. Shared by every step so that
	// connections, tokens and the per-host limiter are shared.
	Scanner *scanner.Scanner
	// Tags stores the tags of each ImageRepository, keyed namespace/name.
	Tags *scanner.TagStore
	// Git runs automations; it owns the clone cache.
	Git *gitpush.Client
	// Now tells the time. Nil means time.Now.
	Now func() time.Time
	// DependencyRequeue is how long to wait before looking again at a
	// missing dependency (a Secret, a repository not scanned yet). Zero
	// means 30 seconds.
	DependencyRequeue time.Duration
	// NoCrossNamespaceRefs refuses references to objects in other
	// namespaces (multi-tenancy lockdown). Default false.
	NoCrossNamespaceRefs bool
	// DefaultServiceAccount is used for an ImageRepository without
	// spec.serviceAccountName (multi-tenancy lockdown). Empty means none.
	DefaultServiceAccount string
	// DockerConfig is consulted, at each scan, for registries with no
	// credentials from a Secret (the runner passes the user's
	// ~/.docker/config.json, read again when it changes). Nil, or a nil
	// result: none.
	DockerConfig func() *scanner.DockerConfig
	// GitAuth is used for remotes with no secretRef (the runner passes
	// credentials from the environment). Nil: anonymous.
	GitAuth func(url string) *gitpush.Auth
}

// Engine runs the reconcile steps. It is safe for concurrent use; make one
// per process.
type Engine struct {
	opts Options

	mu          sync.Mutex
	indexes     map[string]*automationIndex // by automation namespace/name
	digestReads map[string]time.Time        // by policy namespace/name
}

// New checks opts and returns an Engine.
func New(opts Options) (*Engine, error) {
	if opts.Scanner == nil || opts.Tags == nil {
		return nil, errors.New("engine needs a Scanner and a TagStore")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DependencyRequeue == 0 {
		opts.DependencyRequeue = 30 * time.Second
	}
	return &Engine{opts: opts, indexes: map[string]*automationIndex{}, digestReads: map[string]time.Time{}}, nil
}

// Outcome tells the caller what to do after a step.
type Outcome struct {
	// RequeueAfter is when to run the step again; zero means only on a
	// change (of the object or, for the controller, of what it watches).
	RequeueAfter time.Duration
	// Err is why the step failed; nil when it succeeded or is waiting for
	// a dependency.
	Err error
	// Terminal: the spec is invalid, retrying cannot help until it changes.
	Terminal bool
}

func requeue(d time.Duration) Outcome { return Outcome{RequeueAfter: d} }

func failed(err error) Outcome { return Outcome{Err: err} }

func terminal(err error) Outcome { return Outcome{Err: err, Terminal: true} }

// conditioned is an object of ours with conditions and a generation.
type conditioned interface {
	GetGeneration() int64
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

func setCondition(obj conditioned, typ string, status metav1.ConditionStatus, reason, message string, now time.Time) {
	conds := obj.GetConditions()
	meta.SetStatusCondition(&conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message, 32*1024),
		ObservedGeneration: obj.GetGeneration(),
		LastTransitionTime: metav1.NewTime(now),
	})
	obj.SetConditions(conds)
}

func removeCondition(obj conditioned, typ string) {
	conds := obj.GetConditions()
	meta.RemoveStatusCondition(&conds, typ)
	obj.SetConditions(conds)
}

// markReady records success: Ready=True, no longer reconciling or stalled.
func (e *Engine) markReady(obj conditioned, reason, message string) {
	setCondition(obj, imagev1.ReadyCondition, metav1.ConditionTrue, reason, message, e.opts.Now())
	removeCondition(obj, imagev1.ReconcilingCondition)
	removeCondition(obj, imagev1.StalledCondition)
}

// markNotReady records a failure that may pass: Ready=False with the
// reason, Reconciling=True because the controller keeps trying.
func (e *Engine) markNotReady(obj conditioned, reason, message string) {
	now := e.opts.Now()
	setCondition(obj, imagev1.ReadyCondition, metav1.ConditionFalse, reason, message, now)
	setCondition(obj, imagev1.ReconcilingCondition, metav1.ConditionTrue, reason, message, now)
	removeCondition(obj, imagev1.StalledCondition)
}

// markStalled records a failure that needs a spec change: Ready=False and
// Stalled=True, not reconciling.
func (e *Engine) markStalled(obj conditioned, reason, message string) {
	now := e.opts.Now()
	setCondition(obj, imagev1.ReadyCondition, metav1.ConditionFalse, reason, message, now)
	setCondition(obj, imagev1.StalledCondition, metav1.ConditionTrue, reason, message, now)
	removeCondition(obj, imagev1.ReconcilingCondition)
}

// markSuspended leaves Ready as it was and says so.
func (e *Engine) markSuspended(obj conditioned) {
	removeCondition(obj, imagev1.ReconcilingCondition)
	removeCondition(obj, imagev1.StalledCondition)
}

// handleRequest acknowledges a reconcile request annotation, returning
// whether there was a new one.
func handleRequest(obj metav1.Object, status interface {
	GetLastHandledReconcileRequest() string
	SetLastHandledReconcileRequest(string)
}) bool {
	v := requestedAt(obj)
	if v == "" || v == status.GetLastHandledReconcileRequest() {
		return false
	}
	status.SetLastHandledReconcileRequest(v)
	return true
}

// requestedAt returns the reconcile request annotation; ours wins over
// Flux's when both are set.
func requestedAt(obj metav1.Object) string {
	ann := obj.GetAnnotations()
	if v := ann[imagev1.ReconcileRequestAnnotation]; v != "" {
		return v
	}
	return ann[imagev1.FluxReconcileRequestAnnotation]
}

func key(namespace, name string) string { return namespace + "/" + name }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func errNotFound(kind, namespace, name string) error {
	return fmt.Errorf("%s %s/%s: %w", kind, namespace, name, ErrNotFound)
}

// automationIndex is the updater's index of one automation's work tree,
// with the refs it was built for.
type automationIndex struct {
	ix *updater.Index
}

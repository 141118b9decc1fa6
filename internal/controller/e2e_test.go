package controller

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/envtest"
	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/internal/engine"
)

// pipeline is one registry repository, one git repository with a manifest
// marked for a policy, and the three objects that connect them.
type pipeline struct {
	ns    string
	reg   *registry.Registry
	git   *gitserver.Server
	image string
	repo  *imagev1.ImageRepository
	pol   *imagev1.ImagePolicy
	auto  *imagev1.ImageUpdateAutomation
}

const manifestPath = "apps/app.yaml"

// newPipeline pushes app:1.0.0, creates a git repository "fleet" whose
// manifest uses it, and builds (does not create) the objects.
func newPipeline(t *testing.T, ns string) *pipeline {
	t.Helper()
	return newPipelineOn(t, ns, registry.Start(t))
}

// newPipelineOn is newPipeline with the given registry.
func newPipelineOn(t *testing.T, ns string, reg *registry.Registry) *pipeline {
	t.Helper()
	p := &pipeline{ns: ns, reg: reg, git: gitserver.Start(t)}
	p.reg.PushTags(t, "team/app", "1.0.0")
	p.image = p.reg.Repo("team/app")
	p.git.CreateRepo(t, "fleet", map[string]string{manifestPath: manifest(p.image+":1.0.0", ns, "app")})
	p.repo = newRepository(ns, "app", p.image)
	p.pol = newPolicy(ns, "app", "app")
	p.auto = newAutomation(ns, "fleet", withRemote(p.git.HTTP.URL("fleet")))
	return p
}

func (p *pipeline) createAll(t *testing.T) {
	t.Helper()
	create(t, p.repo)
	create(t, p.pol)
	create(t, p.auto)
}

// fileHasTag waits for the manifest on the remote's main branch to use tag.
func (p *pipeline) waitForFile(t *testing.T, tag string) {
	t.Helper()
	want := p.image + ":" + tag + " "
	eventually(t, "manifest on the remote uses "+tag, func() error {
		got := p.git.FileAt(t, "fleet", "main", manifestPath)
		if !strings.Contains(got, want) {
			return fmt.Errorf("manifest is\n%s", got)
		}
		return nil
	})
}

func (p *pipeline) waitForLatest(t *testing.T, tag string) {
	t.Helper()
	eventually(t, "policy selects "+tag, func() error {
		if err := fetch(t, p.pol); err != nil {
			return err
		}
		if err := readyIs(p.pol, metav1.ConditionTrue, imagev1.SucceededReason); err != nil {
			return err
		}
		if ref := p.pol.Status.LatestRef; ref == nil || ref.Tag != tag {
			return fmt.Errorf("latestRef = %v", ref)
		}
		return nil
	})
}

// setRequest sets our reconcile request annotation on obj.
func setRequest(t *testing.T, obj client.Object, value string) {
	t.Helper()
	update(t, obj, func(o client.Object) {
		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[imagev1.ReconcileRequestAnnotation] = value
		o.SetAnnotations(ann)
	})
}

// TestNewTagIsPushed is the whole pipeline on a real API server: a new tag
// in the registry becomes a commit on the git remote, and every object's
// status says so.
func TestNewTagIsPushed(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	p := newPipeline(t, ns)
	startController(t, []string{ns})
	p.createAll(t)

	p.waitForLatest(t, "1.0.0")
	eventually(t, "automation ran without change", func() error {
		if err := fetch(t, p.auto); err != nil {
			return err
		}
		if err := readyIs(p.auto, metav1.ConditionTrue, imagev1.SucceededReason); err != nil {
			return err
		}
		if p.auto.Status.LastAutomationRunTime == nil {
			return fmt.Errorf("no run yet")
		}
		return nil
	})
	if p.auto.Status.LastPushCommit != "" {
		t.Errorf("lastPushCommit = %q before any new tag, want none", p.auto.Status.LastPushCommit)
	}

	p.reg.PushTags(t, "team/app", "1.1.0")
	setRequest(t, p.repo, "after-push")
	p.waitForFile(t, "1.1.0")

	head := p.git.BranchHead(t, "fleet", "main")
	eventually(t, "a Pushed event", func() error {
		if got := eventsFor(t, p.auto); !slices.Contains(got, "Normal/"+string(imagev1.RunPushed)) {
			return fmt.Errorf("events = %v", got)
		}
		return nil
	})
	eventually(t, "automation status names the pushed commit", func() error {
		if err := fetch(t, p.auto); err != nil {
			return err
		}
		st := p.auto.Status
		switch {
		case st.LastPushCommit != head:
			return fmt.Errorf("lastPushCommit = %q, want %q", st.LastPushCommit, head)
		case st.LastPushTime == nil:
			return fmt.Errorf("no lastPushTime")
		case st.ObservedSourceRevision != "main@sha1:"+head:
			return fmt.Errorf("observedSourceRevision = %q", st.ObservedSourceRevision)
		case len(st.History) == 0 || st.History[0].Outcome != imagev1.RunPushed || st.History[0].Commit != head:
			return fmt.Errorf("history = %+v", st.History)
		}
		if ref := st.ObservedPolicies["app"]; ref.Tag != "1.1.0" {
			return fmt.Errorf("observedPolicies = %v", st.ObservedPolicies)
		}
		return readyIs(p.auto, metav1.ConditionTrue, imagev1.SucceededReason)
	})

	if err := fetch(t, p.repo); err != nil {
		t.Fatal(err)
	}
	if got := p.repo.Status.LastHandledReconcileAt; got != "after-push" {
		t.Errorf("repository lastHandledReconcileAt = %q, want after-push", got)
	}
	if r := p.repo.Status.LastScanResult; r == nil || r.TagCount != 2 {
		t.Errorf("repository lastScanResult = %+v, want 2 tags", r)
	}
	if got, want := p.repo.Status.CanonicalImageName, p.image; got != want {
		t.Errorf("canonicalImageName = %q, want %q", got, want)
	}
	if !slices.Contains(p.repo.Finalizers, Finalizer) {
		t.Errorf("finalizers = %v, want %s", p.repo.Finalizers, Finalizer)
	}
	if err := fetch(t, p.pol); err != nil {
		t.Fatal(err)
	}
	if prev := p.pol.Status.ObservedPreviousRef; prev == nil || prev.Tag != "1.0.0" {
		t.Errorf("observedPreviousRef = %v, want tag 1.0.0", prev)
	}
	commits := p.git.Commits(t, "fleet", "main")
	if len(commits) != 2 {
		t.Errorf("remote has %d commits, want 2 (initial and dockhand's)", len(commits))
	}
}

// TestPolicySelectorFollowsLabels runs an automation whose
// spec.policySelector first selects no policy, then, once the policy's
// labels change to match, selects it and pushes its image. Nothing else
// brings the automation back: its interval is an hour and dependencies
// are not retried, so the policy watch's label change does it.
func TestPolicySelectorFollowsLabels(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	p := newPipeline(t, ns)
	p.reg.PushTags(t, "team/app", "1.3.0")
	p.pol = newPolicy(ns, "app", "app", withLabels(map[string]string{"team": "api"}))
	p.auto = newAutomation(ns, "fleet", withRemote(p.git.HTTP.URL("fleet")), withPolicySelector(map[string]string{"team": "web"}))
	startController(t, []string{ns}, func(eo *engine.Options, _ *Options) { eo.DependencyRequeue = time.Hour })
	p.createAll(t)

	eventually(t, "policy resolves 1.3.0", func() error {
		if err := fetch(t, p.pol); err != nil {
			return err
		}
		if ref := p.pol.Status.LatestRef; ref == nil || ref.Tag != "1.3.0" {
			return fmt.Errorf("latestRef = %v", ref)
		}
		return nil
	})
	eventually(t, "automation runs with no policy selected", func() error {
		if err := fetch(t, p.auto); err != nil {
			return err
		}
		if p.auto.Status.LastAutomationRunTime == nil {
			return fmt.Errorf("not run yet: %+v", p.auto.Status.Conditions)
		}
		if len(p.auto.Status.ObservedPolicies) != 0 {
			return fmt.Errorf("observedPolicies = %v, want none", p.auto.Status.ObservedPolicies)
		}
		return nil
	})
	if got := p.git.FileAt(t, "fleet", "main", manifestPath); !strings.Contains(got, p.image+":1.0.0 ") {
		t.Fatalf("manifest changed while no policy was selected:\n%s", got)
	}

	update(t, p.pol, func(pol *imagev1.ImagePolicy) { pol.Labels = map[string]string{"team": "web"} })
	p.waitForFile(t, "1.3.0")
}

// TestSourceRefGitRepository takes the remote from a Flux GitRepository,
// read as unstructured.
func TestSourceRefGitRepository(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	p := newPipeline(t, ns)
	p.reg.PushTags(t, "team/app", "1.2.0")
	p.auto = newAutomation(ns, "fleet", withSourceRef("fleet"))
	startController(t, []string{ns})
	p.createAll(t)

	eventually(t, "automation waits for its GitRepository", func() error {
		if err := fetch(t, p.auto); err != nil {
			return err
		}
		return readyIs(p.auto, metav1.ConditionFalse, imagev1.DependencyNotReadyReason)
	})

	src := gitRepository(t, ns, "fleet", p.git.HTTP.URL("fleet"))
	create(t, src)

	p.waitForFile(t, "1.2.0")
}

// TestGitRepositoryKindInstalledLater starts the controller on an API
// server without Flux's GitRepository kind, installs the kind, and expects
// a new GitRepository to run the automation waiting for it: the watch is
// added without a restart. Dependencies are not retried during the test,
// so only that watch can bring the automation back.
func TestGitRepositoryKindInstalledLater(t *testing.T) {
	testEnv.Require(t)
	env, err := envtest.Start(envtest.Options{}) // our kinds only
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	// The helpers work on testEnv; tests in this package run one at a time.
	shared := testEnv
	testEnv = env
	t.Cleanup(func() { testEnv = shared })

	ns := env.Namespace(t)
	p := newPipeline(t, ns)
	p.reg.PushTags(t, "team/app", "1.2.0")
	p.auto = newAutomation(ns, "fleet", withSourceRef("fleet"))
	startController(t, []string{ns}, func(eo *engine.Options, o *Options) {
		eo.DependencyRequeue = time.Hour
		o.KindPollInterval = 50 * time.Millisecond
	})
	p.createAll(t)
	eventually(t, "automation waits for its GitRepository", func() error {
		if err := fetch(t, p.auto); err != nil {
			return err
		}
		return readyIs(p.auto, metav1.ConditionFalse, imagev1.DependencyNotReadyReason)
	})

	raw, err := os.ReadFile(filepath.Join("testdata", "crds", "gitrepositories.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &crd.Object); err != nil {
		t.Fatal(err)
	}
	create(t, crd)
	src := gitRepository(t, ns, "fleet", p.git.HTTP.URL("fleet"))
	eventually(t, "GitRepository created once its kind is served", func() error {
		return env.Client.Create(t.Context(), src.DeepCopy())
	})

	p.waitForFile(t, "1.2.0")
}

// gitRepository builds a Flux GitRepository for url's main branch.
func gitRepository(t *testing.T, ns, name, url string) *unstructured.Unstructured {
	t.Helper()
	src := &unstructured.Unstructured{}
	src.SetGroupVersionKind(GitRepositoryGVK)
	src.SetNamespace(ns)
	src.SetName(name)
	for _, f := range []struct {
		value string
		path  []string
	}{
		{url, []string{"spec", "url"}},
		{"main", []string{"spec", "ref", "branch"}},
		{"1m", []string{"spec", "interval"}},
	} {
		if err := unstructured.SetNestedField(src.Object, f.value, f.path...); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

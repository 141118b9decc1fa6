package v1_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/envtest"
)

// testEnv is one kube-apiserver for the whole package; nil under -short.
var testEnv *envtest.Env

func TestMain(m *testing.M) {
	os.Exit(envtest.Main(m, &testEnv, envtest.Options{}))
}

func TestCRDsServed(t *testing.T) {
	testEnv.Require(t)
	dc, err := discovery.NewDiscoveryClientForConfig(testEnv.Config)
	if err != nil {
		t.Fatalf("creating discovery client: %v", err)
	}
	list, err := dc.ServerResourcesForGroupVersion(imagev1.GroupVersion.String())
	if err != nil {
		t.Fatalf("ServerResourcesForGroupVersion(%s): %v", imagev1.GroupVersion, err)
	}
	type resource struct {
		Kind       string
		ShortNames []string
		Categories []string
		Status     bool
	}
	got := map[string]*resource{}
	for _, r := range list.APIResources {
		name, sub, _ := strings.Cut(r.Name, "/")
		if got[name] == nil {
			got[name] = &resource{}
		}
		if sub == "status" {
			got[name].Status = true
			continue
		}
		got[name].Kind, got[name].ShortNames, got[name].Categories = r.Kind, r.ShortNames, r.Categories
	}
	want := map[string]*resource{
		"imagerepositories":      {Kind: "ImageRepository", ShortNames: []string{"dhrepo"}, Categories: []string{"all", "dockhand"}, Status: true},
		"imagepolicies":          {Kind: "ImagePolicy", ShortNames: []string{"dhpol"}, Categories: []string{"all", "dockhand"}, Status: true},
		"imageupdateautomations": {Kind: "ImageUpdateAutomation", ShortNames: []string{"dhauto"}, Categories: []string{"all", "dockhand"}, Status: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("served resources of %s (-want +got):\n%s", imagev1.GroupVersion, diff)
	}
}

// TestValidObjectsAccepted creates each sample, and variants of them, and
// checks the defaults the API server filled in.
func TestValidObjectsAccepted(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)

	for _, tc := range []struct {
		name   string
		kind   string
		mutate func(u map[string]any)
		check  func(t *testing.T, obj client.Object)
	}{{
		name: "ImageRepository sample",
		kind: imagev1.ImageRepositoryKind,
		check: func(t *testing.T, obj client.Object) {
			r := obj.(*imagev1.ImageRepository)
			want(t, "spec.exclusionList", []string{`^.*\.sig$`}, r.Spec.ExclusionList)
			want(t, "spec.provider", "generic", r.Spec.Provider)
			want(t, "spec.timeout", &metav1.Duration{Duration: time.Minute}, r.Spec.Timeout)
			want(t, "status.observedGeneration", int64(-1), r.Status.ObservedGeneration)
		},
	}, {
		name: "ImageRepository explicit exclusion list and provider kept",
		kind: imagev1.ImageRepositoryKind,
		mutate: func(u map[string]any) {
			set(u, "spec.exclusionList", []any{"^dev-"})
			set(u, "spec.provider", "aws")
			set(u, "spec.timeout", "1h")
		},
		check: func(t *testing.T, obj client.Object) {
			r := obj.(*imagev1.ImageRepository)
			want(t, "spec.exclusionList", []string{"^dev-"}, r.Spec.ExclusionList)
			want(t, "spec.provider", "aws", r.Spec.Provider)
		},
	}, {
		name: "ImagePolicy sample",
		kind: imagev1.ImagePolicyKind,
		check: func(t *testing.T, obj client.Object) {
			p := obj.(*imagev1.ImagePolicy)
			want(t, "spec.digestReflectionPolicy", imagev1.ReflectNever, p.Spec.DigestReflectionPolicy)
			want(t, "spec.policy.semver.range", ">=6.0.0 <7.0.0", p.Spec.Policy.SemVer.Range)
			want(t, "status.observedGeneration", int64(-1), p.Status.ObservedGeneration)
		},
	}, {
		name: "ImagePolicy alphabetical order defaults to asc",
		kind: imagev1.ImagePolicyKind,
		mutate: func(u map[string]any) {
			set(u, "spec.policy", map[string]any{"alphabetical": map[string]any{}})
		},
		check: func(t *testing.T, obj client.Object) {
			want(t, "spec.policy.alphabetical.order", "asc", obj.(*imagev1.ImagePolicy).Spec.Policy.Alphabetical.Order)
		},
	}, {
		name: "ImagePolicy numerical order defaults to asc",
		kind: imagev1.ImagePolicyKind,
		mutate: func(u map[string]any) {
			set(u, "spec.policy", map[string]any{"numerical": map[string]any{}})
		},
		check: func(t *testing.T, obj client.Object) {
			want(t, "spec.policy.numerical.order", "asc", obj.(*imagev1.ImagePolicy).Spec.Policy.Numerical.Order)
		},
	}, {
		name: "ImagePolicy Always with interval",
		kind: imagev1.ImagePolicyKind,
		mutate: func(u map[string]any) {
			set(u, "spec.digestReflectionPolicy", "Always")
			set(u, "spec.interval", "10m")
		},
		check: func(t *testing.T, obj client.Object) {
			p := obj.(*imagev1.ImagePolicy)
			want(t, "GetInterval()", 10*time.Minute, p.GetInterval())
		},
	}, {
		name: "ImageUpdateAutomation sample",
		kind: imagev1.ImageUpdateAutomationKind,
		check: func(t *testing.T, obj client.Object) {
			a := obj.(*imagev1.ImageUpdateAutomation)
			want(t, "spec.update", &imagev1.UpdateStrategy{Strategy: imagev1.UpdateStrategySetters, Path: "./clusters/production"}, a.Spec.Update)
			want(t, "spec.git.remote.provider", "generic", a.Spec.GitSpec.Remote.Provider)
			want(t, "status.observedGeneration", int64(-1), a.Status.ObservedGeneration)
		},
	}, {
		name: "ImageUpdateAutomation with sourceRef and no update",
		kind: imagev1.ImageUpdateAutomationKind,
		mutate: func(u map[string]any) {
			unstructured.RemoveNestedField(u, "spec", "git", "remote")
			unstructured.RemoveNestedField(u, "spec", "update")
			set(u, "spec.sourceRef", map[string]any{"name": "fleet", "namespace": "flux-system"})
			set(u, "spec.git.commit.signingKey", map[string]any{"secretRef": map[string]any{"name": "gpg"}})
		},
		check: func(t *testing.T, obj client.Object) {
			a := obj.(*imagev1.ImageUpdateAutomation)
			want(t, "spec.sourceRef", &imagev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "fleet", Namespace: "flux-system"}, a.Spec.SourceRef)
			want(t, "spec.update", &imagev1.UpdateStrategy{Strategy: imagev1.UpdateStrategySetters}, a.Spec.Update)
			want(t, "spec.git.commit.signingKey.type", imagev1.SigningKeyGPG, a.Spec.GitSpec.Commit.SigningKey.Type)
		},
	}, {
		name: "ImageUpdateAutomation path with dots inside a name",
		kind: imagev1.ImageUpdateAutomationKind,
		mutate: func(u map[string]any) {
			set(u, "spec.update.path", "apps/v1..2/.hidden/...")
		},
		check: func(t *testing.T, obj client.Object) {
			want(t, "spec.update.path", "apps/v1..2/.hidden/...", obj.(*imagev1.ImageUpdateAutomation).Spec.Update.Path)
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			u := sample(t, tc.kind)
			u.SetNamespace(ns)
			u.SetName("")
			u.SetGenerateName("valid-")
			if tc.mutate != nil {
				tc.mutate(u.Object)
			}
			if err := testEnv.Client.Create(t.Context(), u); err != nil {
				t.Fatalf("Create(%s) = %v, want accepted", tc.kind, err)
			}
			obj := newTyped(t, tc.kind)
			if err := testEnv.Client.Get(t.Context(), client.ObjectKeyFromObject(u), obj); err != nil {
				t.Fatalf("Get(%s %s): %v", tc.kind, u.GetName(), err)
			}
			tc.check(t, obj)
		})
	}
}

// TestInvalidObjectsRejected sends invalid variants of the samples (as a
// server-side dry run) and checks that the API server refuses each, naming
// the offending field.
func TestInvalidObjectsRejected(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)

	const (
		repo = imagev1.ImageRepositoryKind
		pol  = imagev1.ImagePolicyKind
		auto = imagev1.ImageUpdateAutomationKind
	)
	for _, tc := range []struct {
		name      string
		kind      string
		mutate    func(u map[string]any)
		wantField string
		wantMsg   string
	}{
		// ImagePolicy: the policy union.
		{"two policy choices", pol, func(u map[string]any) {
			set(u, "spec.policy.alphabetical", map[string]any{"order": "asc"})
		}, "spec.policy", "exactly one of semver, alphabetical, numerical"},
		{"three policy choices", pol, func(u map[string]any) {
			set(u, "spec.policy.alphabetical", map[string]any{})
			set(u, "spec.policy.numerical", map[string]any{})
		}, "spec.policy", "exactly one of semver, alphabetical, numerical"},
		{"no policy choice", pol, func(u map[string]any) {
			set(u, "spec.policy", map[string]any{})
		}, "spec.policy", "exactly one of semver, alphabetical, numerical"},
		{"no policy", pol, func(u map[string]any) {
			unstructured.RemoveNestedField(u, "spec", "policy")
		}, "spec.policy", "Required value"},

		// ImagePolicy: interval only with Always.
		{"interval with default reflection policy", pol, func(u map[string]any) {
			set(u, "spec.interval", "5m")
		}, "spec.interval", "only accepted when spec.digestReflectionPolicy is 'Always'"},
		{"interval with IfNotPresent", pol, func(u map[string]any) {
			set(u, "spec.digestReflectionPolicy", "IfNotPresent")
			set(u, "spec.interval", "5m")
		}, "spec.interval", "only accepted when spec.digestReflectionPolicy is 'Always'"},
		{"Always without interval", pol, func(u map[string]any) {
			set(u, "spec.digestReflectionPolicy", "Always")
		}, "spec.interval", "must be set when spec.digestReflectionPolicy is 'Always'"},

		// ImageUpdateAutomation: exactly one source.
		{"both sourceRef and git.remote", auto, func(u map[string]any) {
			set(u, "spec.sourceRef", map[string]any{"name": "fleet"})
		}, "spec", "spec.sourceRef and spec.git.remote are mutually exclusive"},
		{"neither sourceRef nor git.remote", auto, func(u map[string]any) {
			unstructured.RemoveNestedField(u, "spec", "git", "remote")
		}, "spec", "one of spec.sourceRef or spec.git.remote must be set"},
		{"neither sourceRef nor git", auto, func(u map[string]any) {
			unstructured.RemoveNestedField(u, "spec", "git")
		}, "spec", "one of spec.sourceRef or spec.git.remote must be set"},

		// ImageUpdateAutomation: a pull request is opened from push.branch.
		{"pullRequest without push", auto, func(u map[string]any) {
			unstructured.RemoveNestedField(u, "spec", "git", "push")
			set(u, "spec.git.pullRequest", map[string]any{"provider": "github"})
		}, "spec.git.pullRequest", "needs spec.git.push.branch"},
		{"pullRequest without push.branch", auto, func(u map[string]any) {
			set(u, "spec.git.push", map[string]any{"refspec": "HEAD:refs/heads/auto"})
			set(u, "spec.git.pullRequest", map[string]any{"provider": "github"})
		}, "spec.git.pullRequest", "needs spec.git.push.branch"},

		// ImageUpdateAutomation: update.path.
		{"update.path absolute", auto, func(u map[string]any) {
			set(u, "spec.update.path", "/etc/manifests")
		}, "spec.update.path", "must be relative"},
		{"update.path is ..", auto, func(u map[string]any) {
			set(u, "spec.update.path", "..")
		}, "spec.update.path", "must not contain '..'"},
		{"update.path starts with ..", auto, func(u map[string]any) {
			set(u, "spec.update.path", "../other-repo")
		}, "spec.update.path", "must not contain '..'"},
		{"update.path with .. inside", auto, func(u map[string]any) {
			set(u, "spec.update.path", "clusters/../../etc")
		}, "spec.update.path", "must not contain '..'"},
		{"update.path ends with ..", auto, func(u map[string]any) {
			set(u, "spec.update.path", "clusters/..")
		}, "spec.update.path", "must not contain '..'"},

		// Durations.
		{"ImageRepository interval in words", repo, func(u map[string]any) {
			set(u, "spec.interval", "5 minutes")
		}, "spec.interval", "should match"},
		{"ImageRepository interval in days", repo, func(u map[string]any) {
			set(u, "spec.interval", "1d")
		}, "spec.interval", "should match"},
		{"ImageRepository timeout without unit", repo, func(u map[string]any) {
			set(u, "spec.timeout", "30")
		}, "spec.timeout", "should match"},
		{"ImagePolicy interval negative", pol, func(u map[string]any) {
			set(u, "spec.digestReflectionPolicy", "Always")
			set(u, "spec.interval", "-5m")
		}, "spec.interval", "should match"},
		{"ImageUpdateAutomation interval bad unit", auto, func(u map[string]any) {
			set(u, "spec.interval", "1x")
		}, "spec.interval", "should match"},
		{"ImageRepository interval missing", repo, func(u map[string]any) {
			unstructured.RemoveNestedField(u, "spec", "interval")
		}, "spec.interval", "Required value"},

		// Enums.
		{"registry provider", repo, func(u map[string]any) {
			set(u, "spec.provider", "docker")
		}, "spec.provider", "Unsupported value"},
		{"digest reflection policy", pol, func(u map[string]any) {
			set(u, "spec.digestReflectionPolicy", "Sometimes")
		}, "spec.digestReflectionPolicy", "Unsupported value"},
		{"alphabetical order", pol, func(u map[string]any) {
			set(u, "spec.policy", map[string]any{"alphabetical": map[string]any{"order": "up"}})
		}, "spec.policy.alphabetical.order", "Unsupported value"},
		{"numerical order", pol, func(u map[string]any) {
			set(u, "spec.policy", map[string]any{"numerical": map[string]any{"order": "ascending"}})
		}, "spec.policy.numerical.order", "Unsupported value"},
		{"source kind", auto, func(u map[string]any) {
			unstructured.RemoveNestedField(u, "spec", "git", "remote")
			set(u, "spec.sourceRef", map[string]any{"kind": "OCIRepository", "name": "fleet"})
		}, "spec.sourceRef.kind", "Unsupported value"},
		{"update strategy", auto, func(u map[string]any) {
			set(u, "spec.update.strategy", "Regex")
		}, "spec.update.strategy", "Unsupported value"},
		{"signing key type", auto, func(u map[string]any) {
			set(u, "spec.git.commit.signingKey", map[string]any{"type": "x509", "secretRef": map[string]any{"name": "k"}})
		}, "spec.git.commit.signingKey.type", "Unsupported value"},
		{"pull request provider", auto, func(u map[string]any) {
			set(u, "spec.git.pullRequest.provider", "bitbucket")
		}, "spec.git.pullRequest.provider", "Unsupported value"},
		{"git remote provider", auto, func(u map[string]any) {
			set(u, "spec.git.remote.provider", "aws")
		}, "spec.git.remote.provider", "Unsupported value"},

		// Other field constraints.
		{"git remote scp-like url", auto, func(u map[string]any) {
			set(u, "spec.git.remote.url", "git@github.com:example/fleet.git")
		}, "spec.git.remote.url", "should match"},
		{"force-push refspec", auto, func(u map[string]any) {
			set(u, "spec.git.push.refspec", "+refs/heads/main:refs/heads/main")
		}, "spec.git.push.refspec", "should match"},
		{"commit author without email", auto, func(u map[string]any) {
			unstructured.RemoveNestedField(u, "spec", "git", "commit", "author", "email")
		}, "spec.git.commit.author.email", "Required value"},
		{"too many exclusions", repo, func(u map[string]any) {
			var l []any
			for range imagev1.MaxExclusionListItems + 1 {
				l = append(l, "x")
			}
			set(u, "spec.exclusionList", l)
		}, "spec.exclusionList", "must have at most 25 items"},
		{"image missing", repo, func(u map[string]any) {
			unstructured.RemoveNestedField(u, "spec", "image")
		}, "spec.image", "Required value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := sample(t, tc.kind)
			u.SetNamespace(ns)
			u.SetName("")
			u.SetGenerateName("invalid-")
			tc.mutate(u.Object)
			err := testEnv.Client.Create(t.Context(), u, client.DryRunAll)
			if err == nil {
				t.Fatalf("Create(%s) accepted, want rejected with %s: %s", tc.kind, tc.wantField, tc.wantMsg)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("Create(%s) = %v, want an Invalid error", tc.kind, err)
			}
			t.Logf("rejected: %v", err)
			if !hasCause(err, tc.wantField, tc.wantMsg) {
				t.Errorf("Create(%s) = %v\nwant a cause on field %q with message containing %q", tc.kind, err, tc.wantField, tc.wantMsg)
			}
		})
	}
}

// TestEveryFieldStored writes objects with every spec and status field set
// through the typed client and reads them back: a field whose JSON name the
// CRD schema does not know would be pruned and show up in the diff.
func TestEveryFieldStored(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	d := func(s string) *metav1.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return &metav1.Duration{Duration: v}
	}
	ready := []metav1.Condition{{
		Type: imagev1.ReadyCondition, Status: metav1.ConditionTrue, Reason: imagev1.SucceededReason,
		Message: "ok", LastTransitionTime: now, ObservedGeneration: 1,
	}}
	reconcile := imagev1.ReconcileRequestStatus{LastHandledReconcileAt: "2026-11-25T14:00:00Z"}

	for _, tc := range []struct {
		kind      string
		obj       client.Object
		setStatus func(client.Object)
	}{{
		kind: imagev1.ImageRepositoryKind,
		obj: &imagev1.ImageRepository{
			ObjectMeta: metav1.ObjectMeta{Name: "full", Namespace: ns},
			Spec: imagev1.ImageRepositorySpec{
				Image:              "ghcr.io/org/app",
				Interval:           *d("5m"),
				Timeout:            d("1m30s"),
				SecretRef:          &imagev1.LocalObjectReference{Name: "pull"},
				ServiceAccountName: "sa",
				CertSecretRef:      &imagev1.LocalObjectReference{Name: "tls"},
				ProxySecretRef:     &imagev1.LocalObjectReference{Name: "proxy"},
				Insecure:           true,
				ExclusionList:      []string{"^dev-", `\.sig$`},
				Provider:           imagev1.ProviderGCP,
				Suspend:            true,
				AccessFrom: &imagev1.AccessFrom{NamespaceSelectors: []imagev1.NamespaceSelector{
					{MatchLabels: map[string]string{"team": "a"}}, {},
				}},
			},
		},
		setStatus: func(o client.Object) {
			o.(*imagev1.ImageRepository).Status = imagev1.ImageRepositoryStatus{
				Conditions:         ready,
				ObservedGeneration: 1,
				CanonicalImageName: "ghcr.io/org/app",
				LastScanResult: &imagev1.ScanResult{
					Revision: "sha256:abc", TagCount: 3, ScanTime: now, LatestTags: []string{"c", "b", "a"},
				},
				ObservedExclusionList:  []string{"^dev-"},
				ReconcileRequestStatus: reconcile,
			}
		},
	}, {
		kind: imagev1.ImagePolicyKind,
		obj: &imagev1.ImagePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "full", Namespace: ns},
			Spec: imagev1.ImagePolicySpec{
				ImageRepositoryRef:     imagev1.NamespacedObjectReference{Name: "app", Namespace: "other"},
				Policy:                 imagev1.ImagePolicyChoice{SemVer: &imagev1.SemVerPolicy{Range: "1.x"}},
				FilterTags:             &imagev1.TagFilter{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)`, Extract: "$ts"},
				DigestReflectionPolicy: imagev1.ReflectAlways,
				Interval:               d("10m"),
				Suspend:                true,
			},
		},
		setStatus: func(o client.Object) {
			o.(*imagev1.ImagePolicy).Status = imagev1.ImagePolicyStatus{
				LatestRef:              &imagev1.ImageRef{Name: "ghcr.io/org/app", Tag: "1.2.3", Digest: "sha256:def"},
				ObservedPreviousRef:    &imagev1.ImageRef{Name: "ghcr.io/org/app", Tag: "1.2.2"},
				ObservedGeneration:     1,
				Conditions:             ready,
				ReconcileRequestStatus: reconcile,
			}
		},
	}, {
		kind: imagev1.ImageUpdateAutomationKind,
		obj: &imagev1.ImageUpdateAutomation{
			ObjectMeta: metav1.ObjectMeta{Name: "full", Namespace: ns},
			Spec: imagev1.ImageUpdateAutomationSpec{
				GitSpec: &imagev1.GitSpec{
					Remote: &imagev1.GitRemoteSpec{
						URL:            "ssh://git@example.com/fleet.git",
						SecretRef:      &imagev1.LocalObjectReference{Name: "ssh"},
						ProxySecretRef: &imagev1.LocalObjectReference{Name: "proxy"},
						Provider:       imagev1.GitProviderGitHub,
					},
					Checkout: &imagev1.GitCheckoutSpec{Reference: imagev1.GitRepositoryRef{
						Branch: "main", Tag: "v1", SemVer: "1.x", Name: "refs/heads/main", Commit: "0123abcd",
					}},
					Commit: imagev1.CommitSpec{
						Author:                imagev1.CommitUser{Name: "bot", Email: "bot@example.com"},
						SigningKey:            &imagev1.SigningKey{SecretRef: imagev1.LocalObjectReference{Name: "sign"}, Type: imagev1.SigningKeySSH},
						MessageTemplate:       "update {{ .Values.env }}",
						MessageTemplateValues: map[string]string{"env": "prod"},
					},
					Push: &imagev1.PushSpec{
						Branch: "auto", Refspec: "refs/heads/auto:refs/heads/auto-2", Options: map[string]string{"ci.skip": ""},
					},
					PullRequest: &imagev1.PullRequestSpec{
						Provider: imagev1.PullRequestGitea, Base: "main", Title: "t", Body: "b", Labels: []string{"x", "y"},
					},
				},
				Interval: *d("1h"),
				PolicySelector: &metav1.LabelSelector{
					MatchLabels:      map[string]string{"app": "x"},
					MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}},
				},
				Update:  &imagev1.UpdateStrategy{Strategy: imagev1.UpdateStrategySetters, Path: "clusters/prod"},
				Suspend: true,
			},
		},
		setStatus: func(o client.Object) {
			o.(*imagev1.ImageUpdateAutomation).Status = imagev1.ImageUpdateAutomationStatus{
				LastAutomationRunTime:  &now,
				LastPushCommit:         "0123abcd",
				LastPushTime:           &now,
				ObservedGeneration:     1,
				Conditions:             ready,
				ObservedPolicies:       imagev1.ObservedPolicies{"app": {Name: "ghcr.io/org/app", Tag: "1.2.3", Digest: "sha256:def"}},
				ObservedSourceRevision: "main@sha1:0123abcd",
				PullRequest:            &imagev1.PullRequestStatus{URL: "https://example.com/pr/7", Number: 7},
				History: []imagev1.AutomationRun{
					{Time: now, Outcome: imagev1.RunPushed, Commit: "0123abcd", Duration: d("1.5s"), Message: "app 1.2.2 -> 1.2.3"},
					{Time: now, Outcome: imagev1.RunFailed, Message: "push refused"},
				},
				ReconcileRequestStatus: reconcile,
			}
		},
	}} {
		t.Run(tc.kind, func(t *testing.T) {
			c := testEnv.Client
			wantObj := tc.obj.DeepCopyObject().(client.Object)
			if err := c.Create(t.Context(), tc.obj); err != nil {
				t.Fatalf("Create: %v", err)
			}
			got := newTyped(t, tc.kind)
			if err := c.Get(t.Context(), client.ObjectKeyFromObject(tc.obj), got); err != nil {
				t.Fatalf("Get: %v", err)
			}
			if diff := cmp.Diff(specOf(wantObj), specOf(got)); diff != "" {
				t.Errorf("spec after a round trip (-want +got):\n%s", diff)
			}

			tc.setStatus(got)
			wantStatus := statusOf(got)
			if err := c.Status().Update(t.Context(), got); err != nil {
				t.Fatalf("Status().Update: %v", err)
			}
			again := newTyped(t, tc.kind)
			if err := c.Get(t.Context(), client.ObjectKeyFromObject(tc.obj), again); err != nil {
				t.Fatalf("Get: %v", err)
			}
			if diff := cmp.Diff(wantStatus, statusOf(again)); diff != "" {
				t.Errorf("status after a round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// hasCause reports whether err, an API status error, has a cause on field
// whose message contains msg.
func hasCause(err error, field, msg string) bool {
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Details == nil {
		return false
	}
	return slices.ContainsFunc(se.ErrStatus.Details.Causes, func(c metav1.StatusCause) bool {
		return c.Field == field && strings.Contains(c.Message, msg)
	})
}

// sample returns the object of the given kind from config/samples, as listed
// by its kustomization.yaml.
func sample(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	root, err := envtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "config", "samples")
	var k struct {
		Resources []string `json:"resources"`
	}
	readYAML(t, filepath.Join(dir, "kustomization.yaml"), &k)
	var found *unstructured.Unstructured
	for _, file := range k.Resources {
		u := &unstructured.Unstructured{}
		readYAML(t, filepath.Join(dir, file), &u.Object)
		if u.GetKind() != kind {
			continue
		}
		if found != nil {
			t.Fatalf("config/samples has more than one %s", kind)
		}
		if got := u.GetAPIVersion(); got != imagev1.GroupVersion.String() {
			t.Fatalf("%s: apiVersion %q, want %q", file, got, imagev1.GroupVersion)
		}
		found = u
	}
	if found == nil {
		t.Fatalf("config/samples/kustomization.yaml lists no %s", kind)
	}
	return found
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
}

func newTyped(t *testing.T, kind string) client.Object {
	t.Helper()
	obj, err := testEnv.Scheme.New(imagev1.GroupVersion.WithKind(kind))
	if err != nil {
		t.Fatalf("scheme.New(%s): %v", kind, err)
	}
	return obj.(client.Object)
}

func specOf(o client.Object) any {
	switch o := o.(type) {
	case *imagev1.ImageRepository:
		return o.Spec
	case *imagev1.ImagePolicy:
		return o.Spec
	case *imagev1.ImageUpdateAutomation:
		return o.Spec
	}
	panic(fmt.Sprintf("unknown kind %T", o))
}

func statusOf(o client.Object) any {
	switch o := o.(type) {
	case *imagev1.ImageRepository:
		return o.Status
	case *imagev1.ImagePolicy:
		return o.Status
	case *imagev1.ImageUpdateAutomation:
		return o.Status
	}
	panic(fmt.Sprintf("unknown kind %T", o))
}

// set sets a dotted path in an unstructured object, creating maps on the
// way.
func set(u map[string]any, path string, value any) {
	if err := unstructured.SetNestedField(u, value, strings.Split(path, ".")...); err != nil {
		panic(err)
	}
}

func want[T any](t *testing.T, what string, wantV, got T) {
	t.Helper()
	if diff := cmp.Diff(wantV, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

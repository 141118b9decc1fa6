package v1

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestImageRepositoryDefaults(t *testing.T) {
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	for _, tc := range []struct {
		name         string
		spec         ImageRepositorySpec
		wantTimeout  time.Duration
		wantExcl     []string
		wantProvider string
	}{{
		name:         "empty",
		wantTimeout:  time.Second,
		wantExcl:     []string{`^.*\.sig$`},
		wantProvider: "generic",
	}, {
		name:         "timeout falls back to interval",
		spec:         ImageRepositorySpec{Interval: metav1.Duration{Duration: 5 * time.Minute}, Provider: "aws"},
		wantTimeout:  5 * time.Minute,
		wantExcl:     []string{`^.*\.sig$`},
		wantProvider: "aws",
	}, {
		name:         "explicit",
		spec:         ImageRepositorySpec{Interval: metav1.Duration{Duration: time.Hour}, Timeout: dur(30 * time.Second), ExclusionList: []string{"^dev-"}},
		wantTimeout:  30 * time.Second,
		wantExcl:     []string{"^dev-"},
		wantProvider: "generic",
	}, {
		name:         "timeout at least a second",
		spec:         ImageRepositorySpec{Interval: metav1.Duration{Duration: time.Hour}, Timeout: dur(10 * time.Millisecond)},
		wantTimeout:  time.Second,
		wantExcl:     []string{`^.*\.sig$`},
		wantProvider: "generic",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := &ImageRepository{Spec: tc.spec}
			if got := r.GetTimeout(); got != tc.wantTimeout {
				t.Errorf("GetTimeout() = %v, want %v", got, tc.wantTimeout)
			}
			if diff := cmp.Diff(tc.wantExcl, r.GetExclusionList()); diff != "" {
				t.Errorf("GetExclusionList() (-want +got):\n%s", diff)
			}
			if got := r.GetProvider(); got != tc.wantProvider {
				t.Errorf("GetProvider() = %q, want %q", got, tc.wantProvider)
			}
		})
	}
}

func TestImagePolicyInterval(t *testing.T) {
	for _, tc := range []struct {
		name       string
		policy     ReflectionPolicy
		interval   *metav1.Duration
		wantPolicy ReflectionPolicy
		want       time.Duration
	}{
		{name: "unset", wantPolicy: ReflectNever, want: 0},
		{name: "never ignores interval", policy: ReflectNever, interval: &metav1.Duration{Duration: time.Minute}, wantPolicy: ReflectNever, want: 0},
		{name: "if not present", policy: ReflectIfNotPresent, wantPolicy: ReflectIfNotPresent, want: 0},
		{name: "always default", policy: ReflectAlways, wantPolicy: ReflectAlways, want: 10 * time.Minute},
		{name: "always zero", policy: ReflectAlways, interval: &metav1.Duration{}, wantPolicy: ReflectAlways, want: 10 * time.Minute},
		{name: "always explicit", policy: ReflectAlways, interval: &metav1.Duration{Duration: time.Hour}, wantPolicy: ReflectAlways, want: time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &ImagePolicy{Spec: ImagePolicySpec{DigestReflectionPolicy: tc.policy, Interval: tc.interval}}
			if got := p.GetDigestReflectionPolicy(); got != tc.wantPolicy {
				t.Errorf("GetDigestReflectionPolicy() = %q, want %q", got, tc.wantPolicy)
			}
			if got := p.GetInterval(); got != tc.want {
				t.Errorf("GetInterval() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{ImageRef{Name: "ghcr.io/org/app", Tag: "1.2.3"}.String(), "ghcr.io/org/app:1.2.3"},
		{ImageRef{Name: "ghcr.io/org/app", Tag: "1.2.3", Digest: "sha256:abc"}.String(), "ghcr.io/org/app:1.2.3@sha256:abc"},
		{CrossNamespaceSourceReference{Kind: "GitRepository", Name: "repo"}.String(), "GitRepository/repo"},
		{CrossNamespaceSourceReference{Kind: "GitRepository", Name: "repo", Namespace: "flux-system"}.String(), "GitRepository/flux-system/repo"},
		{string(SigningKey{}.GetType()), "gpg"},
		{string(SigningKey{Type: SigningKeySSH}.GetType()), "ssh"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestGetUpdateStrategy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		update *UpdateStrategy
		want   UpdateStrategy
	}{
		{name: "nil", want: UpdateStrategy{Strategy: UpdateStrategySetters}},
		{name: "path only", update: &UpdateStrategy{Path: "clusters/prod"}, want: UpdateStrategy{Strategy: UpdateStrategySetters, Path: "clusters/prod"}},
		{name: "explicit", update: &UpdateStrategy{Strategy: UpdateStrategySetters, Path: "apps"}, want: UpdateStrategy{Strategy: UpdateStrategySetters, Path: "apps"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &ImageUpdateAutomation{Spec: ImageUpdateAutomationSpec{Update: tc.update}}
			if diff := cmp.Diff(tc.want, a.GetUpdateStrategy()); diff != "" {
				t.Errorf("GetUpdateStrategy() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHasRefspec(t *testing.T) {
	for _, tc := range []struct {
		spec GitSpec
		want bool
	}{
		{GitSpec{}, false},
		{GitSpec{Push: &PushSpec{Branch: "auto"}}, false},
		{GitSpec{Push: &PushSpec{Refspec: "refs/heads/main:refs/heads/auto"}}, true},
	} {
		if got := tc.spec.HasRefspec(); got != tc.want {
			t.Errorf("%+v.HasRefspec() = %v, want %v", tc.spec.Push, got, tc.want)
		}
	}
}

func TestRecordRun(t *testing.T) {
	var s ImageUpdateAutomationStatus
	for i := range MaxHistory + 3 {
		s.RecordRun(AutomationRun{Outcome: RunPushed, Commit: fmt.Sprint(i)})
	}
	if len(s.History) != MaxHistory {
		t.Fatalf("len(History) = %d, want %d", len(s.History), MaxHistory)
	}
	var got []string
	for _, r := range s.History {
		got = append(got, r.Commit)
	}
	want := []string{"12", "11", "10", "9", "8", "7", "6", "5", "4", "3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("History commits, newest first (-want +got):\n%s", diff)
	}

	s.RecordRun(AutomationRun{Outcome: RunFailed, Message: strings.Repeat("é", MaxRunMessageLength)})
	if n := len(s.History[0].Message); n > MaxRunMessageLength {
		t.Errorf("len(Message) = %d, want at most %d", n, MaxRunMessageLength)
	}
}

func TestRecordRunDoesNotAlias(t *testing.T) {
	old := []AutomationRun{{Commit: "a"}, {Commit: "b"}}
	s := ImageUpdateAutomationStatus{History: old}
	s.RecordRun(AutomationRun{Commit: "c"})
	if old[0].Commit != "a" || old[1].Commit != "b" {
		t.Errorf("RecordRun changed the previous history slice: %+v", old)
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is two bytes: keep it whole or not at all
		{"aé", 3, "aé"},
		{"日本", 4, "日"},
		{"日本", 2, ""},
		{"", 0, ""},
	} {
		if got := truncateUTF8(tc.in, tc.n); got != tc.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestConditionsAccessors(t *testing.T) {
	conds := []metav1.Condition{{Type: ReadyCondition, Status: metav1.ConditionTrue, Reason: SucceededReason}}
	type accessor interface {
		GetConditions() []metav1.Condition
		SetConditions([]metav1.Condition)
	}
	for _, obj := range []accessor{&ImageRepository{}, &ImagePolicy{}, &ImageUpdateAutomation{}} {
		obj.SetConditions(conds)
		if diff := cmp.Diff(conds, obj.GetConditions()); diff != "" {
			t.Errorf("%T conditions (-want +got):\n%s", obj, diff)
		}
	}
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatalf("AddToScheme: %v", err)
	}
	for _, obj := range []runtime.Object{
		&ImageRepository{}, &ImageRepositoryList{},
		&ImagePolicy{}, &ImagePolicyList{},
		&ImageUpdateAutomation{}, &ImageUpdateAutomationList{},
	} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil {
			t.Errorf("ObjectKinds(%T): %v", obj, err)
			continue
		}
		if len(gvks) != 1 || gvks[0].GroupVersion() != GroupVersion {
			t.Errorf("ObjectKinds(%T) = %v, want one kind in %v", obj, gvks, GroupVersion)
		}
	}
	if got, want := Resource("imagepolicies").String(), "imagepolicies.image.dockhand.dev"; got != want {
		t.Errorf("Resource(imagepolicies) = %q, want %q", got, want)
	}
}

func TestDeepCopyIsDeep(t *testing.T) {
	in := &ImageUpdateAutomation{
		Spec: ImageUpdateAutomationSpec{
			GitSpec: &GitSpec{
				Commit:      CommitSpec{MessageTemplateValues: map[string]string{"k": "v"}},
				PullRequest: &PullRequestSpec{Labels: []string{"a"}},
			},
		},
		Status: ImageUpdateAutomationStatus{ObservedPolicies: ObservedPolicies{"p": {Name: "n", Tag: "t"}}},
	}
	out := in.DeepCopy()
	out.Spec.GitSpec.Commit.MessageTemplateValues["k"] = "changed"
	out.Spec.GitSpec.PullRequest.Labels[0] = "changed"
	out.Status.ObservedPolicies["p"] = ImageRef{Name: "changed"}
	if in.Spec.GitSpec.Commit.MessageTemplateValues["k"] != "v" || in.Spec.GitSpec.PullRequest.Labels[0] != "a" || in.Status.ObservedPolicies["p"].Name != "n" {
		t.Errorf("DeepCopy shares memory with the original: %+v", in)
	}
}

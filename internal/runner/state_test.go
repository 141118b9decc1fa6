package runner

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
)

func TestStatePrune(t *testing.T) {
	st, err := OpenState(filepath.Join(t.TempDir(), "state.db"), StateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := func(kind, ns, name string) Record {
		return Record{Kind: kind, Namespace: ns, Name: name, Generation: 1, Object: []byte(`{}`)}
	}
	err = st.Put(
		rec(KindRepository, "apps", "web"),
		rec(KindRepository, "apps", "gone"),
		rec(KindPolicy, "apps", "web"),
		rec(KindPolicy, "apps", "gone"),
		rec(KindAutomation, "apps", "fleet"),
		rec("Unknown", "apps", "web"), // not the runner's to forget
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetCacheDir("/var/cache/dockhand"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"apps/web", "apps/gone", "other/old"} {
		if _, err := st.Tags().Put(key, []string{"1.0.0", "1.1.0"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}

	keep := []ObjectRef{
		{KindRepository, "apps", "web"},
		{KindPolicy, "apps", "web"},
		{KindPolicy, "apps", "gone"}, // a policy's name is not a repository's
		{KindAutomation, "apps", "new"},
	}
	pruned, err := st.Prune(keep, nil)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	want := Pruned{
		Records: []ObjectRef{{KindRepository, "apps", "gone"}, {KindAutomation, "apps", "fleet"}},
		Tags:    []string{"apps/gone", "other/old"},
	}
	if diff := cmp.Diff(want, pruned); diff != "" {
		t.Errorf("Prune (-want +got):\n%s", diff)
	}

	recs, err := st.Records()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, r := range recs {
		left = append(left, r.Kind+"/"+r.Namespace+"/"+r.Name)
	}
	wantLeft := []string{
		imagev1.ImagePolicyKind + "/apps/gone",
		imagev1.ImagePolicyKind + "/apps/web",
		imagev1.ImageRepositoryKind + "/apps/web",
		"Unknown/apps/web",
	}
	if diff := cmp.Diff(wantLeft, left); diff != "" {
		t.Errorf("records after Prune (-want +got):\n%s", diff)
	}
	keys, err := st.Tags().Keys()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"apps/web"}, keys); diff != "" {
		t.Errorf("tag keys after Prune (-want +got):\n%s", diff)
	}
	if dir, err := st.CacheDir(); err != nil || dir != "/var/cache/dockhand" {
		t.Errorf("CacheDir after Prune = %q, %v; want it kept", dir, err)
	}

	// Pruning again finds nothing.
	pruned, err = st.Prune(keep, nil)
	if err != nil || len(pruned.Records)+len(pruned.Tags) != 0 {
		t.Errorf("second Prune = %+v, %v; want nothing", pruned, err)
	}
}

func TestStatePruneReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := OpenState(path, StateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	ro, err := OpenState(path, StateOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Prune(nil, nil); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Prune on a read-only state = %v, want a read-only error", err)
	}
}

// New forgets the objects that left the manifests since the last run:
// their records and, for a repository, its tags.
func TestNewPrunesObjectsGoneFromTheManifests(t *testing.T) {
	h := newHarness(t)
	h.writeFile("old.yaml", h.repository("old", "1m"))
	r, closeState := h.runner(Options{})
	wantAllOK(t, r.Once(t.Context(), nil))
	closeState()

	if err := removeFile(h.manifests, "old.yaml"); err != nil {
		t.Fatal(err)
	}
	r, closeState = h.runner(Options{})
	if got := len(r.Refs()); got != 3 {
		t.Fatalf("Refs() = %d objects, want 3", got)
	}
	closeState()

	st, err := OpenState(h.statePath, StateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok, err := st.Get(KindRepository, "default", "old"); ok || err != nil {
		t.Errorf("the record of the removed repository: found %v, err %v; want it gone", ok, err)
	}
	keys, err := st.Tags().Keys()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"default/app"}, keys); diff != "" {
		t.Errorf("tag keys (-want +got):\n%s", diff)
	}
	recs, err := st.Records()
	if err != nil || len(recs) != 3 {
		t.Errorf("Records() = %d records, %v; want 3", len(recs), err)
	}
}

// Records read from files outside the paths loaded belong to another set
// of manifests sharing the state file: they stay, with their tags.
func TestStatePruneKeepsOtherManifests(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenState(filepath.Join(dir, "state.db"), StateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := filepath.Join(dir, "team-a"), filepath.Join(dir, "team-b")
	rec := func(kind, name, source string) Record {
		return Record{Kind: kind, Namespace: "apps", Name: name, Generation: 1, Source: source, Object: []byte(`{}`)}
	}
	err = st.Put(
		rec(KindRepository, "a-web", filepath.Join(a, "repos.yaml")+":3"),
		rec(KindRepository, "a-gone", filepath.Join(a, "old", "repos.yaml")+":12"),
		rec(KindPolicy, "a-file", filepath.Join(dir, "single.yaml")+":1"),
		rec(KindRepository, "b-web", filepath.Join(b, "repos.yaml")+":3"),
		rec(KindPolicy, "b-pol", filepath.Join(dir, "team-ab", "p.yaml")+":7"), // a prefix of a's name is not a's
		rec(KindPolicy, "unknown", ""),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"apps/a-web", "apps/a-gone", "apps/b-web", "apps/orphan"} {
		if _, err := st.Tags().Put(key, []string{"1.0.0"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	keep := []ObjectRef{{KindRepository, "apps", "a-web"}}
	pruned, err := st.Prune(keep, []string{a, filepath.Join(dir, "single.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	want := Pruned{
		Records: []ObjectRef{{KindPolicy, "apps", "a-file"}, {KindRepository, "apps", "a-gone"}},
		Tags:    []string{"apps/a-gone", "apps/orphan"},
	}
	if diff := cmp.Diff(want, pruned); diff != "" {
		t.Errorf("Prune (-want +got):\n%s", diff)
	}
	keys, err := st.Tags().Keys()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"apps/a-web", "apps/b-web"}, keys); diff != "" {
		t.Errorf("tag keys after Prune (-want +got):\n%s", diff)
	}
	// Relative paths are taken from the working directory.
	t.Chdir(dir)
	pruned, err = st.Prune(nil, []string{"team-b"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]ObjectRef{{KindRepository, "apps", "b-web"}}, pruned.Records); diff != "" {
		t.Errorf("Prune with a relative path (-want +got):\n%s", diff)
	}
}

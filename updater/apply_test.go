package updater

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/google/go-cmp/cmp"
)

const webMarked = "image: ghcr.io/org/web:1.0 # {\"$imagepolicy\": \"apps:web\"}\n"

var webPolicies = map[string]Ref{"apps/web": {Name: "ghcr.io/org/web", Tag: "1.10"}}

// writeFiles creates files under dir from a map of slash paths to content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readString(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplyKeepsMode(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": webMarked, "b.yaml": webMarked})
	for name, mode := range map[string]os.FileMode{"a.yaml": 0o600, "b.yaml": 0o755} {
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Apply(t.Context(), dir, webPolicies); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"a.yaml": 0o600, "b.yaml": 0o755} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("mode of %s = %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries after Apply, want 2 (no temporary files left)", len(entries))
	}
}

func TestApplyDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": webMarked})
	res, err := Apply(t.Context(), dir, webPolicies, WithDryRun())
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(dir, "a.yaml")); got != webMarked {
		t.Errorf("dry run changed a.yaml to %q", got)
	}
	want := []FileUpdate{{Path: "a.yaml", Before: []byte(webMarked), After: []byte(strings.Replace(webMarked, "1.0", "1.10", 1))}}
	if diff := cmp.Diff(want, res.Updates); diff != "" {
		t.Errorf("Updates (-want +got):\n%s", diff)
	}
	if res.Stats.Written != 0 || res.Stats.Changed != 1 {
		t.Errorf("Stats = %+v, want 1 changed, 0 written", res.Stats)
	}
}

func TestApplyPathEscapes(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "repo")
	writeFiles(t, parent, map[string]string{"outside/a.yaml": webMarked, "repo/inside/a.yaml": webMarked})
	if err := os.Symlink(filepath.Join(parent, "outside"), filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inside", filepath.Join(root, "in")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"dotdot", []Option{WithPath("../outside")}},
		{"dotdot inside", []Option{WithPath("inside/../../outside")}},
		{"absolute", []Option{WithPath(filepath.Join(parent, "outside"))}},
		{"symlink", []Option{WithPath("out")}},
		{"changed dotdot", []Option{WithIndex(NewIndex()), WithChangedPaths([]string{"../outside/a.yaml"})}},
		{"changed absolute", []Option{WithIndex(NewIndex()), WithChangedPaths([]string{"/etc/passwd"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(t.Context(), root, webPolicies, tc.opts...)
			if !errors.Is(err, ErrEscapesRoot) {
				t.Errorf("Apply = %v, want an error wrapping ErrEscapesRoot", err)
			}
		})
	}
	if got := readString(t, filepath.Join(parent, "outside/a.yaml")); got != webMarked {
		t.Errorf("a file outside the root changed: %q", got)
	}
	// A symlinked directory inside the root is fine as the update path.
	res, err := Apply(t.Context(), root, webPolicies, WithPath("in"))
	if err != nil {
		t.Fatalf("Apply with a symlink inside the root: %v", err)
	}
	if diff := cmp.Diff([]string{"inside/a.yaml"}, res.Files()); diff != "" {
		t.Errorf("files changed (-want +got):\n%s", diff)
	}
}

func TestApplyDoesNotFollowSymlinks(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "repo")
	writeFiles(t, parent, map[string]string{"outside/a.yaml": webMarked, "repo/real.yaml": webMarked})
	for link, target := range map[string]string{
		"linked-out.yaml": filepath.Join(parent, "outside/a.yaml"),
		"linked-dir":      filepath.Join(parent, "outside"),
		"linked-in.yaml":  "real.yaml",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Apply(t.Context(), root, webPolicies)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"real.yaml"}, res.Files()); diff != "" {
		t.Errorf("files changed (-want +got):\n%s", diff)
	}
	if got := readString(t, filepath.Join(parent, "outside/a.yaml")); got != webMarked {
		t.Errorf("a file outside the root changed: %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(root, "linked-in.yaml")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("linked-in.yaml is no longer a symlink (%v, %v)", fi, err)
	}
	if len(res.Diagnostics) != 1 || res.Diagnostics[0].File != "linked-out.yaml" || res.Diagnostics[0].Severity != SeverityNote {
		t.Errorf("Diagnostics = %v, want one note about linked-out.yaml", res.Diagnostics)
	}
}

func TestApplyBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		root     string
		policies map[string]Ref
		opts     []Option
	}{
		{"missing root", filepath.Join(dir, "nope"), webPolicies, nil},
		{"key without namespace", dir, map[string]Ref{"web": {Name: "a", Tag: "1"}}, nil},
		{"ref without name", dir, map[string]Ref{"apps/web": {Tag: "1"}}, nil},
		{"ref without tag or digest", dir, map[string]Ref{"apps/web": {Name: "a"}}, nil},
		{"changed paths without index", dir, webPolicies, []Option{WithChangedPaths(nil)}},
		{"empty namespace", dir, webPolicies, []Option{WithDefaultNamespace("")}},
		{"no workers", dir, webPolicies, []Option{WithWorkers(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Apply(t.Context(), tc.root, tc.policies, tc.opts...); err == nil {
				t.Errorf("Apply succeeded, want an error")
			}
		})
	}
}

func TestApplyCancelled(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": webMarked})
	ctx, cancel := contextWithCancel(t)
	cancel()
	if _, err := Apply(ctx, dir, webPolicies); err == nil {
		t.Error("Apply with a cancelled context succeeded")
	}
}

// TestResultTemplate renders the commit message template of Flux's
// documentation against a Result.
func TestResultTemplate(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  image: ghcr.io/org/web:1.0 # {\"$imagepolicy\": \"apps:web\"}\n",
		"values.yaml": "tag: 1.0 # {\"$imagepolicy\": \":web:tag\"}\n",
	})
	res, err := Apply(t.Context(), dir, webPolicies, WithDefaultNamespace("apps"))
	if err != nil {
		t.Fatal(err)
	}
	const text = `Automated image update

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
{{ range .Changed.Changes }}{{ .Setter }} {{ end }}`
	tmpl := template.Must(template.New("msg").Parse(text))
	var b strings.Builder
	if err := tmpl.Execute(&b, struct{ Changed Result }{res}); err != nil {
		t.Fatal(err)
	}
	want := "Automated image update\n\nFiles:\n- deploy.yaml\n- values.yaml\n" +
		"Objects:\n-  \n  Changes:\n    - 1.0 -> 1.10\n" +
		"- Deployment web\n  Changes:\n    - ghcr.io/org/web:1.0 -> ghcr.io/org/web:1.10\n" +
		"apps:web apps:web:tag "
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("rendered template (-want +got):\n%s", diff)
	}
}

func TestResultObjectsAcrossFiles(t *testing.T) {
	obj := ObjectIdentifier{APIVersion: "v1", Kind: "ConfigMap", Name: "c"}
	c1 := Change{OldValue: "a", NewValue: "b", Setter: "ns:p"}
	c2 := Change{OldValue: "c", NewValue: "d", Setter: "ns:p:tag"}
	r := Result{FileChanges: map[string]ObjectChanges{
		"b.yaml": {obj: {c2, c1}},
		"a.yaml": {obj: {c1}},
	}}
	if diff := cmp.Diff(ObjectChanges{obj: {c1, c2, c1}}, r.Objects()); diff != "" {
		t.Errorf("Objects() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Change{c1, c2}, r.Changes()); diff != "" {
		t.Errorf("Changes() (-want +got):\n%s", diff)
	}
}

func TestApplyManyFilesSorted(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	var want []string
	for i := range 200 {
		p := filepath.ToSlash(filepath.Join("d"+string(rune('a'+i%7)), "f"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+".yaml"))
		if _, ok := files[p]; ok {
			continue
		}
		files[p] = webMarked
		want = append(want, p)
	}
	writeFiles(t, dir, files)
	slices.Sort(want)
	res, err := Apply(t.Context(), dir, webPolicies, WithWorkers(3))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, res.Files()); diff != "" {
		t.Errorf("Files() (-want +got):\n%s", diff)
	}
	var paths []string
	for _, u := range res.Updates {
		paths = append(paths, u.Path)
	}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("Updates paths (-want +got):\n%s", diff)
	}
}

// The change lists of FileChanges share one backing array; each must hold
// its own object's changes, merge an object that appears in two documents,
// and not reach into the next object's list when a caller appends to it.
func TestApplyObjectChangesLists(t *testing.T) {
	dir := t.TempDir()
	obj := func(name, tags string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n" + tags
	}
	two := "  a: ghcr.io/org/web:1.0 # {\"$imagepolicy\": \"apps:web\"}\n  b: \"1.0\" # {\"$imagepolicy\": \"apps:web:tag\"}\n"
	one := "  a: ghcr.io/org/web:1.0 # {\"$imagepolicy\": \"apps:web\"}\n"
	onlyTag := "  b: \"1.0\" # {\"$imagepolicy\": \"apps:web:tag\"}\n"
	writeFiles(t, dir, map[string]string{
		"a.yaml": obj("p", two) + "---\n" + obj("q", onlyTag) + "---\n" + obj("p", one),
		"b.yaml": obj("r", one),
	})
	res, err := Apply(t.Context(), dir, webPolicies)
	if err != nil {
		t.Fatal(err)
	}
	whole := Change{OldValue: "ghcr.io/org/web:1.0", NewValue: "ghcr.io/org/web:1.10", Setter: "apps:web"}
	tag := Change{OldValue: "1.0", NewValue: "1.10", Setter: "apps:web:tag"}
	id := func(name string) ObjectIdentifier {
		return ObjectIdentifier{APIVersion: "v1", Kind: "Pod", Name: name}
	}
	want := map[string]ObjectChanges{
		"a.yaml": {id("p"): {whole, tag, whole}, id("q"): {tag}},
		"b.yaml": {id("r"): {whole}},
	}
	if diff := cmp.Diff(want, res.FileChanges); diff != "" {
		t.Fatalf("FileChanges (-want +got):\n%s", diff)
	}
	for _, objs := range res.FileChanges {
		for o := range objs {
			objs[o] = append(objs[o], Change{Setter: "appended"})
		}
	}
	want["a.yaml"][id("p")] = append(want["a.yaml"][id("p")], Change{Setter: "appended"})
	want["a.yaml"][id("q")] = append(want["a.yaml"][id("q")], Change{Setter: "appended"})
	want["b.yaml"][id("r")] = append(want["b.yaml"][id("r")], Change{Setter: "appended"})
	if diff := cmp.Diff(want, res.FileChanges); diff != "" {
		t.Fatalf("FileChanges after appending to each list (-want +got):\n%s", diff)
	}
}

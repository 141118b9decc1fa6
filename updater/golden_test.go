package updater

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the expected output of golden tests")

// goldenPolicies are the policies of every golden case; markers that name
// others are notes.
var goldenPolicies = map[string]Ref{
	"apps/web":            {Name: "ghcr.io/org/web", Tag: "1.10"},
	"apps/api":            {Name: "ghcr.io/org/api", Tag: "2.3.4", Digest: "sha256:4c8b7a3f1e2d9c0b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b"},
	"apps/worker":         {Name: "registry.example/org/worker", Tag: "20240102"},
	"flux-system/podinfo": {Name: "ghcr.io/stefanprodan/podinfo", Tag: "6.5.0"},
}

// TestGolden runs Apply on a copy of testdata/<case>/input and compares
// every file with testdata/<case>/expected byte for byte, and the changes
// and diagnostics with testdata/<case>/result.txt. With -update it
// rewrites the expected files instead.
func TestGolden(t *testing.T) {
	cases, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if _, err := os.Stat(filepath.Join("testdata", c.Name(), "input")); !c.IsDir() || err != nil {
			continue // not a golden case (testdata/fuzz holds fuzz seeds)
		}
		t.Run(c.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", c.Name())
			work := t.TempDir()
			copyTree(t, filepath.Join(dir, "input"), work)
			res, err := Apply(t.Context(), work, goldenPolicies, WithDefaultNamespace("apps"))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			report := describe(res)
			if *update {
				os.RemoveAll(filepath.Join(dir, "expected"))
				copyTreeRenaming(t, work, filepath.Join(dir, "expected"), ".git", "dot.git")
				if err := os.WriteFile(filepath.Join(dir, "result.txt"), []byte(report), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := readTree(t, filepath.Join(dir, "expected"))
			got := readTree(t, work)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files after Apply differ from %s/expected (-want +got):\n%s", dir, diff)
			}
			wantReport, err := os.ReadFile(filepath.Join(dir, "result.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(wantReport), report); diff != "" {
				t.Errorf("result differs from %s/result.txt (-want +got):\n%s", dir, diff)
			}
		})
	}
}

// describe renders a result for result.txt.
func describe(res Result) string {
	var b strings.Builder
	for _, f := range res.Files() {
		fmt.Fprintf(&b, "changed %s\n", f)
		for _, obj := range sortedObjects(res.FileChanges[f]) {
			for _, c := range res.FileChanges[f][obj] {
				fmt.Fprintf(&b, "  [%s] %s: %q -> %q\n", obj, c.Setter, c.OldValue, c.NewValue)
			}
		}
	}
	for _, d := range res.Diagnostics {
		fmt.Fprintln(&b, d)
	}
	fmt.Fprintf(&b, "stats: read %d, with marker text %d, changed %d, written %d\n",
		res.Stats.Read, res.Stats.WithMarkerText, res.Stats.Changed, res.Stats.Written)
	return b.String()
}

// copyTree copies regular files and directories; a file named
// "dot.git" in testdata becomes ".git" (git would not store a nested .git).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	copyTreeRenaming(t, from, to, "dot.git", ".git")
}

// copyTreeRenaming copies a tree, renaming every path component old to new.
func copyTreeRenaming(t *testing.T, from, to, old, new string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		rel = renameComponent(rel, old, new)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readTree returns the files under dir by slash path, with ".git" named
// "dot.git" as in testdata.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[renameComponent(filepath.ToSlash(rel), ".git", "dot.git")] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// renameComponent renames the path components equal to from.
func renameComponent(p, from, to string) string {
	parts := strings.Split(filepath.ToSlash(p), "/")
	for i, c := range parts {
		if c == from {
			parts[i] = to
		}
	}
	return filepath.FromSlash(strings.Join(parts, "/"))
}

package main

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"
)

var updateMigrate = flag.Bool("update-migrate", false, "rewrite testdata/migrate/expected from the output of dockhand migrate")

// copyTree copies a directory of test files to a temporary directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), raw, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		raw, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestMigrateGolden(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "migrate", "input"))
	var out, errOut bytes.Buffer
	err := runMigrate(t.Context(), &out, &errOut, migrateOptions{paths: []string{dir}})
	if e, ok := asExitError(err); !ok || e.code != exitMigrateProblems {
		t.Errorf("migrate = %v, want exit %d for the objects in problems.yaml", err, exitMigrateProblems)
	}
	got := readTree(t, dir)
	expectedDir := filepath.Join("testdata", "migrate", "expected")
	if *updateMigrate {
		os.RemoveAll(expectedDir)
		for name, content := range got {
			p := filepath.Join(expectedDir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if diff := cmp.Diff(readTree(t, expectedDir), got); diff != "" {
		t.Errorf("migrated files (-want +got):\n%s", diff)
	}

	msgs := strings.ReplaceAll(errOut.String(), dir+string(filepath.Separator), "")
	for _, want := range []string{
		"problems.yaml:1: ImagePolicy two-choices: not migrated: invalid as image.dockhand.dev/v1: ",
		"problems.yaml:14: ImageRepository ancient: not migrated: image.toolkit.fluxcd.io/v1beta1 is too old",
		"kustomization.yaml:7: note: still mentions image.toolkit.fluxcd.io",
		"clusters/prod/image-automation.yaml:29: note: still mentions",
		"7 objects in 4 files migrated to image.dockhand.dev/v1",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msgs)
		}
	}
	if strings.Contains(msgs, "problems.yaml:1: note") {
		t.Errorf("an object reported as not migrated also got a note:\n%s", msgs)
	}
	if strings.Contains(out.String(), "unrelated") {
		t.Errorf("stdout mentions a file with nothing to migrate:\n%s", out.String())
	}
}

// TestMigrateChangesOnlyAPIVersions checks every migrated file: it still
// parses, to the same documents but for apiVersion, and its bytes are the
// input's with the apiVersion values replaced.
func TestMigrateChangesOnlyAPIVersions(t *testing.T) {
	in := readTree(t, filepath.Join("testdata", "migrate", "input"))
	out := readTree(t, filepath.Join("testdata", "migrate", "expected"))
	for name, before := range in {
		after := out[name]
		checkOnlyAPIVersions(t, name, before, after)
	}
}

func checkOnlyAPIVersions(t *testing.T, name, before, after string) {
	t.Helper()
	replaced := strings.NewReplacer("image.toolkit.fluxcd.io/v1beta2", "image.dockhand.dev/v1", "image.toolkit.fluxcd.io/v1\"", "image.dockhand.dev/v1\"",
		"image.toolkit.fluxcd.io/v1'", "image.dockhand.dev/v1'", "image.toolkit.fluxcd.io/v1\n", "image.dockhand.dev/v1\n",
		"image.toolkit.fluxcd.io/v1 ", "image.dockhand.dev/v1 ", "image.toolkit.fluxcd.io/v1,", "image.dockhand.dev/v1,")
	if before != after {
		// Every changed line is an apiVersion line.
		bl, al := strings.Split(before, "\n"), strings.Split(after, "\n")
		if len(bl) != len(al) {
			t.Fatalf("%s: %d lines before, %d after", name, len(bl), len(al))
		}
		for i := range bl {
			if bl[i] != al[i] && (!strings.Contains(bl[i], "apiVersion") || replaced.Replace(bl[i]+"\n") != al[i]+"\n") {
				t.Errorf("%s:%d changed beyond its apiVersion:\n-%s\n+%s", name, i+1, bl[i], al[i])
			}
		}
	}
	docsBefore, docsAfter := yamlDocs(t, before), yamlDocs(t, after)
	normalise := func(docs []any) []any {
		var walk func(v any) any
		walk = func(v any) any {
			switch x := v.(type) {
			case map[string]any:
				for k, val := range x {
					if s, ok := val.(string); ok && k == "apiVersion" && strings.HasPrefix(s, "image.") {
						x[k] = "image/migrated"
					} else {
						x[k] = walk(val)
					}
				}
			case []any:
				for i := range x {
					x[i] = walk(x[i])
				}
			}
			return v
		}
		for i := range docs {
			docs[i] = walk(docs[i])
		}
		return docs
	}
	if diff := cmp.Diff(normalise(docsBefore), normalise(docsAfter)); diff != "" {
		t.Errorf("%s parses differently after migrate, apiVersion aside (-before +after):\n%s", name, diff)
	}
}

func yamlDocs(t *testing.T, s string) []any {
	t.Helper()
	var docs []any
	dec := yaml.NewDecoder(strings.NewReader(s))
	for {
		var v any
		err := dec.Decode(&v)
		if err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("parsing: %v", err)
		}
		docs = append(docs, v)
	}
}

func TestMigrateDryRunWritesNothing(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "migrate", "input"))
	before := readTree(t, dir)
	var out, errOut bytes.Buffer
	_ = runMigrate(t.Context(), &out, &errOut, migrateOptions{paths: []string{filepath.Join(dir, "repository.json")}, dryRun: true})
	if diff := cmp.Diff(before, readTree(t, dir)); diff != "" {
		t.Errorf("migrate --dry-run changed files:\n%s", diff)
	}
	want := `-  "apiVersion": "image.toolkit.fluxcd.io/v1",
+  "apiVersion": "image.dockhand.dev/v1",`
	if !strings.Contains(out.String(), want) || !strings.Contains(errOut.String(), "1 object in 1 file would be migrated") {
		t.Errorf("migrate --dry-run output:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
}

func TestMigrateMissingPath(t *testing.T) {
	err := runMigrate(t.Context(), &bytes.Buffer{}, &bytes.Buffer{}, migrateOptions{paths: []string{filepath.Join(t.TempDir(), "nope")}})
	if e, ok := asExitError(err); !ok || e.code != exitMigrateInvalid {
		t.Errorf("migrate of a missing path = %v, want exit %d", err, exitMigrateInvalid)
	}
}

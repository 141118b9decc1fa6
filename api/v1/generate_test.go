package v1

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestGeneratedFilesUpToDate runs `make generate` into a temporary directory
// and compares the result with the checked-in zz_generated.deepcopy.go and
// config/crd/bases. Going through the Makefile keeps one definition of the
// controller-gen version and flags.
func TestGeneratedFilesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs controller-gen; skipped with -short")
	}
	root := repoRoot(t)
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("finding make (needed to run the generate target): %v", err)
	}
	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), makeTool, "-s", "generate", "GENERATE_OUT="+out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make generate GENERATE_OUT=%s: %v\n%s", out, err, b)
	}

	compare(t, filepath.Join(out, "zz_generated.deepcopy.go"), filepath.Join(root, "api", "v1", "zz_generated.deepcopy.go"))

	crdDir := filepath.Join(root, "config", "crd", "bases")
	generated := yamlFiles(t, out)
	checkedIn := yamlFiles(t, crdDir)
	if !slices.Equal(generated, checkedIn) {
		t.Errorf("config/crd/bases holds %v, controller-gen writes %v: run make generate (and delete stale files)", checkedIn, generated)
	}
	for _, name := range generated {
		compare(t, filepath.Join(out, name), filepath.Join(crdDir, name))
	}
}

func compare(t *testing.T, generatedPath, checkedInPath string) {
	t.Helper()
	want, err := os.ReadFile(generatedPath)
	if err != nil {
		t.Fatalf("reading generated file: %v", err)
	}
	got, err := os.ReadFile(checkedInPath)
	if errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is missing: run make generate", checkedInPath)
		return
	}
	if err != nil {
		t.Fatalf("reading checked-in file: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run make generate", checkedInPath)
	}
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatalf("listing %s: %v", dir, err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	slices.Sort(names)
	return names
}

// repoRoot returns the repository root: the nearest parent of the working
// directory (the package directory under go test) with a go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getting working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

package v1

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps api/v1 importable by anything: its non-test code may
// import only the standard library and k8s.io/apimachinery.
//
// Only the direct imports are checked. Everything api/v1 reaches transitively
// comes through an apimachinery package, so it is by construction part of
// what apimachinery itself needs (klog, structured-merge-diff, json-iterator,
// cbor, ...); listing those modules here would only make the test break on
// every apimachinery upgrade without guarding anything more. What the test
// must catch is a new direct import of client-go, controller-runtime, another
// dockhand package or any other module, and that shows up in Imports.
//
// The imports are listed for several GOOS values, since a file behind a build
// constraint can carry imports the host platform never sees.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go tool: %v", err)
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		cmd := exec.CommandContext(t.Context(), goTool, "list", "-f", `{{join .Imports "\n"}}`, ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("GOOS=%s go list: %v\n%s", goos, err, stderrOf(err))
		}
		for _, imp := range strings.Fields(string(out)) {
			if !allowedImport(imp) {
				t.Errorf("GOOS=%s: api/v1 imports %q; only the standard library and k8s.io/apimachinery are allowed", goos, imp)
			}
		}
	}
}

func allowedImport(path string) bool {
	if path == "k8s.io/apimachinery" || strings.HasPrefix(path, "k8s.io/apimachinery/") {
		return true
	}
	// Standard library import paths have no dot in their first element.
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestAllowedImport(t *testing.T) {
	for path, want := range map[string]bool{
		"time":                                    true,
		"unicode/utf8":                            true,
		"k8s.io/apimachinery/pkg/apis/meta/v1":    true,
		"k8s.io/apimachinery":                     true,
		"k8s.io/apimachinery-extra/pkg":           false,
		"k8s.io/client-go/kubernetes":             false,
		"sigs.k8s.io/controller-runtime/pkg":      false,
		"github.com/dockhand-dev/dockhand/policy": false,
	} {
		if got := allowedImport(path); got != want {
			t.Errorf("allowedImport(%q) = %v, want %v", path, got, want)
		}
	}
}

func stderrOf(err error) string {
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

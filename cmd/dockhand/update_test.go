package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const updateTestdata = "testdata/update"

// runUpdateCmd runs "update ARGS..." with stdin, returning stdout, stderr
// and the exit status main would use.
func runUpdateCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCommand(t, newUpdateCmd(), stdin, args...)
}

// copyRepo copies testdata/update/<name> to a temporary directory.
func copyRepo(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join(updateTestdata, name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func readFileString(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	listPolicies = filepath.Join(updateTestdata, "policies-list.yaml")
	fluxPolicies = filepath.Join(updateTestdata, "policies-flux.yaml")
)

const wantDeploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  template:
    spec:
      containers:
      - name: web
        image: ghcr.io/org/web:1.10 # {"$imagepolicy": "apps:web"}
      - name: api
        image: ghcr.io/org/api:2.3.4@sha256:4c8b7a3f1e2d9c0b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b # {"$imagepolicy": "apps:api"}
      - name: other
        image: ghcr.io/org/other:1.0 # {"$imagepolicy": "apps:other"}
`

const wantValues = `image:
  repository: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
  tag: 6.5.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
web:
  tag: "1.10" # {"$imagepolicy": ":web:tag"}
`

func TestUpdateRewritesInPlace(t *testing.T) {
	repo := copyRepo(t, "repo")
	stdout, stderr, code := runUpdateCmd(t, "", "--path", repo, "-f", listPolicies, "-f", fluxPolicies, "-n", "apps")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	wantOut := filepath.Join(repo, "apps/deploy.yaml") + "\n" + filepath.Join(repo, "apps/values.yaml") + "\n"
	if diff := cmp.Diff(wantOut, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		filepath.Join(repo, "apps/deploy.yaml") + ":15: note: policy apps/other is not among the policies of this update",
		"ImagePolicy apps/pending: note: no status.latestRef",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if diff := cmp.Diff(wantDeploy, readFileString(t, filepath.Join(repo, "apps/deploy.yaml"))); diff != "" {
		t.Errorf("deploy.yaml (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantValues, readFileString(t, filepath.Join(repo, "apps/values.yaml"))); diff != "" {
		t.Errorf("values.yaml (-want +got):\n%s", diff)
	}

	// A second run has nothing to do.
	stdout, stderr, code = runUpdateCmd(t, "", "--path", repo, "-f", listPolicies, "-f", fluxPolicies, "-n", "apps")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "no changes") {
		t.Errorf("second run: status %d, stdout %q, stderr %q; want 0, nothing, \"no changes\"", code, stdout, stderr)
	}
}

func TestUpdateDryRunPrintsDiff(t *testing.T) {
	repo := copyRepo(t, "repo")
	stdout, stderr, code := runUpdateCmd(t, "", "--path", repo, "-f", fluxPolicies, "--dry-run", "-n", "apps")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	want := `--- a/apps/deploy.yaml
+++ b/apps/deploy.yaml
@@ -10,6 +10,6 @@
       - name: web
         image: ghcr.io/org/web:1.9.0 # {"$imagepolicy": "apps:web"}
       - name: api
-        image: ghcr.io/org/api:2.3.3 # {"$imagepolicy": "apps:api"}
+        image: ghcr.io/org/api:2.3.4@sha256:4c8b7a3f1e2d9c0b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b # {"$imagepolicy": "apps:api"}
       - name: other
         image: ghcr.io/org/other:1.0 # {"$imagepolicy": "apps:other"}
--- a/apps/values.yaml
+++ b/apps/values.yaml
@@ -1,5 +1,5 @@
 image:
   repository: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
-  tag: 6.4.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
+  tag: 6.5.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
 web:
   tag: 1.9.0 # {"$imagepolicy": ":web:tag"}
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	original := readFileString(t, filepath.Join(updateTestdata, "repo/apps/deploy.yaml"))
	if got := readFileString(t, filepath.Join(repo, "apps/deploy.yaml")); got != original {
		t.Errorf("--dry-run wrote deploy.yaml:\n%s", got)
	}
}

func TestUpdateJSON(t *testing.T) {
	repo := copyRepo(t, "repo")
	stdout, stderr, code := runUpdateCmd(t, "", "--path", repo, "-f", listPolicies, "-o", "json", "-n", "apps")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	var got updateReport
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("decoding %q: %v", stdout, err)
	}
	if len(got.Files) != 2 || got.Files[0].Path != "apps/deploy.yaml" || got.Files[1].Path != "apps/values.yaml" {
		t.Fatalf("files = %+v, want apps/deploy.yaml and apps/values.yaml", got.Files)
	}
	c := got.Files[0].Changes[0]
	if c.Object.Kind != "Deployment" || c.Object.Name != "web" || c.Setter != "apps:web" ||
		c.OldValue != "ghcr.io/org/web:1.9.0" || c.NewValue != "ghcr.io/org/web:1.10" {
		t.Errorf("first change = %+v", c)
	}
	if got.Stats.Written != 2 || len(got.Diagnostics) == 0 {
		t.Errorf("stats %+v, %d diagnostics; want 2 written and some notes", got.Stats, len(got.Diagnostics))
	}
	for _, key := range []string{`"oldValue"`, `"newValue"`, `"setter"`, `"apiVersion"`, `"severity"`} {
		if !strings.Contains(stdout, key) {
			t.Errorf("JSON output lacks %s", key)
		}
	}
}

func TestUpdateYAMLAndStdin(t *testing.T) {
	repo := copyRepo(t, "repo")
	policies := readFileString(t, fluxPolicies)
	stdout, stderr, code := runUpdateCmd(t, policies, "--path", repo, "-f", "-", "-o", "yaml", "--dry-run")
	if code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"dryRun: true", "path: apps/values.yaml", "setter: flux-system:podinfo:tag", "+  tag: 6.5.0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("YAML output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestUpdateParseFailure(t *testing.T) {
	repo := copyRepo(t, "broken")
	stdout, stderr, code := runUpdateCmd(t, "", "--path", repo, "-f", listPolicies)
	if code != exitUpdateFailed {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitUpdateFailed, stderr)
	}
	bad := filepath.Join(repo, "bad.yaml")
	if !strings.Contains(stderr, bad+":") || !strings.Contains(stderr, "error: cannot parse YAML") ||
		!strings.Contains(stderr, "could not update 1 file(s): "+bad) {
		t.Errorf("stderr does not name %s as unparsable:\n%s", bad, stderr)
	}
	if stdout != filepath.Join(repo, "good.yaml")+"\n" {
		t.Errorf("stdout = %q, want good.yaml updated", stdout)
	}
	if got := readFileString(t, bad); got != readFileString(t, filepath.Join(updateTestdata, "broken/bad.yaml")) {
		t.Errorf("bad.yaml was written:\n%s", got)
	}
}

func TestUpdateInvalidInput(t *testing.T) {
	repo := copyRepo(t, "repo")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no path", []string{"-f", listPolicies}, "--path is required"},
		{"no policies", []string{"--path", repo}, "-f is required"},
		{"bad output", []string{"--path", repo, "-f", listPolicies, "-o", "xml"}, "unknown output format"},
		{"missing policies", []string{"--path", repo, "-f", filepath.Join(repo, "nope.yaml")}, "reading policies"},
		{"invalid policy", []string{"--path", repo, "-f", filepath.Join(updateTestdata, "policies-invalid.yaml")}, "problem(s) in the policies"},
		{"no policy objects", []string{"--path", repo, "-f", filepath.Join(repo, "apps/values.yaml")}, "no ImagePolicy objects"},
		{"missing path", []string{"--path", filepath.Join(repo, "nope"), "-f", listPolicies}, "updating"},
		{"extra argument", []string{"--path", repo, "-f", listPolicies, "extra"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := newUpdateCmd()
			cmd.SetArgs(tc.args)
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.ExecuteContext(t.Context())
			if err == nil {
				t.Fatal("update succeeded, want an error")
			}
			if e, ok := asExitError(err); ok && e.code != exitInvalidInput {
				t.Errorf("exit status %d, want %d", e.code, exitInvalidInput)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
	original := readFileString(t, filepath.Join(updateTestdata, "repo/apps/deploy.yaml"))
	if got := readFileString(t, filepath.Join(repo, "apps/deploy.yaml")); got != original {
		t.Errorf("an invalid invocation wrote deploy.yaml:\n%s", got)
	}
}

func TestDiffLines(t *testing.T) {
	for content, want := range map[string][]string{
		"":         nil,
		"a\n":      {"a\n"},
		"a\r\nb":   {"a\r\n", "b\n\\ No newline at end of file\n"},
		"a\n\nb\n": {"a\n", "\n", "b\n"},
	} {
		if diff := cmp.Diff(want, diffLines([]byte(content)), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("diffLines(%q) (-want +got):\n%s", content, diff)
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestE2ELongRunningReloadsManifests edits the manifests under a running
// dockhand run: an invalid file is reported and ignored, a new policy and
// a narrower range are picked up (the narrower range pushes), and a
// removed policy disappears from dockhand get.
func TestE2ELongRunningReloadsManifests(t *testing.T) {
	f := newRunFixture(t)
	run := f.startLongRun(t, f.runArgs("--reload-interval", "200ms")...)
	// policies is what dockhand get lists while the run holds the state.
	policies := func() string {
		t.Helper()
		res := f.dockhand("get", "images", "policies", "--state", f.state)
		if res.code != 0 {
			t.Fatalf("get images policies: exit %d\n%s", res.code, res.stderr)
		}
		return res.stdout
	}
	listed := func(name string) bool {
		return regexp.MustCompile(`(?m)^` + name + `\s`).MatchString(policies())
	}
	run.waitFor("the first commit", f.deployed(t, "1.0.1"))

	// An invalid file: reported with its file and line, nothing else changes.
	broken := filepath.Join(f.manifests, "broken.yaml")
	f.write("broken.yaml", policyYAML("image.toolkit.fluxcd.io/v1", "broken", "semver:\n  range: \">=1.0.0\"\nalphabetical:\n  order: asc"))
	located := regexp.MustCompile(`"msg":"manifests not reloaded[^"]*".*` + regexp.QuoteMeta(broken) + `:\d+: ImagePolicy default/broken: `)
	run.waitFor("the log to locate the problem in broken.yaml", func() bool { return located.MatchString(run.errOut.String()) })
	if !listed("app") || listed("broken") {
		t.Errorf("after an invalid edit, get lists:\n%s", policies())
	}

	// Fixed, with a new policy and a narrower range for the old one.
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	f.write("edge.yaml", policyYAML("image.dockhand.dev/v1", "edge", "semver:\n  range: \">=1.0.0\""))
	f.write("objects.yaml", strings.Replace(f.objects(), `range: ">=1.0.0"`, `range: "<1.0.1"`, 1))
	run.waitFor("the commit of the narrower range", f.deployed(t, "1.0.0"))
	run.waitFor("get to list the new policy", func() bool { return listed("edge") })

	// Removed: forgotten.
	if err := os.Remove(filepath.Join(f.manifests, "edge.yaml")); err != nil {
		t.Fatal(err)
	}
	run.waitFor("get to stop listing the removed policy", func() bool { return !listed("edge") })

	run.stop()
	if got := f.commits(); got != 3 {
		t.Errorf("fleet has %d commits, want 3 (seed, 1.0.1, back to 1.0.0)", got)
	}
	if !strings.Contains(run.errOut.String(), `"msg":"manifests reloaded","added":1,`) ||
		!strings.Contains(run.errOut.String(), `"removed":1,`) {
		t.Errorf("the log has no record of the reloads:\n%s", run.errOut.String())
	}
	// The file itself no longer records the removed policy.
	if got := policies(); !regexp.MustCompile(`(?m)^app\s`).MatchString(got) || strings.Contains(got, "edge") {
		t.Errorf("get images policies after the run:\n%s", got)
	}
}

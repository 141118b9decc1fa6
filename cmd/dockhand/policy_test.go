package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/policy"
)

const policyTestdata = "testdata/policy"

// runPolicyCmd runs "policy ARGS..." with stdin, returning stdout, stderr
// and the exit status main would use.
func runPolicyCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCommand(t, newPolicyCmd(), stdin, args...)
}

// runCommand runs cmd with args and stdin, returning stdout, stderr and the
// exit status main would use; an error that is not an *exitError fails t.
func runCommand(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(t.Context())
	switch e, ok := asExitError(err); {
	case err == nil:
	case ok:
		code = e.code
		errOut.WriteString(e.msg)
	default:
		t.Fatalf("%s %s: error %v is not an *exitError", cmd.Name(), strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

func testdataFile(name string) string { return filepath.Join(policyTestdata, name) }

func TestPolicyEvalText(t *testing.T) {
	tags, err := os.ReadFile(testdataFile("tags.txt"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"ours, tags on stdin", []string{"eval", "-f", testdataFile("semver.yaml")}, string(tags), "v1.5.0\n"},
		{"ours, tags from a file", []string{"eval", "-f", testdataFile("semver.yaml"), "--tags", testdataFile("tags.txt")}, "", "v1.5.0\n"},
		{"Flux's, among other kinds", []string{"eval", "-f", testdataFile("flux-filter.yaml")}, string(tags), "main-b71e004-1711927000\n"},
		{"one of two by name", []string{"eval", "-f", testdataFile("two-policies.yaml"), "--name", "candidates"}, string(tags), "1.6.0-rc.1\n"},
		{"policy on stdin", []string{"eval", "-f", "-", "--tags", testdataFile("tags.txt")}, mustRead(t, "semver.yaml"), "v1.5.0\n"},
		{"CRLF and blanks", []string{"eval", "-f", testdataFile("semver.yaml")}, "1.0.0\r\n\r\n  2.0.0  \r\n", "2.0.0\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runPolicyCmd(t, tc.stdin, tc.args...)
			if code != 0 || stdout != tc.want || stderr != "" {
				t.Errorf("policy %s = (stdout %q, stderr %q, exit %d); want (%q, \"\", 0)", strings.Join(tc.args, " "), stdout, stderr, code, tc.want)
			}
		})
	}
}

func TestPolicyEvalVerbose(t *testing.T) {
	stdout, stderr, code := runPolicyCmd(t, mustRead(t, "tags.txt"), "eval", "-v", "-f", testdataFile("semver.yaml"))
	want := `apps/podinfo: 5 of 8 tags ignored: 3 not semantic versions (latest, main-3f2a9c1-1711840548, main-b71e004-1711927000), ` +
		`1 pre-release excluded by range ">=1.0.0" (1.6.0-rc.1), 1 outside range ">=1.0.0" (0.9.0)` + "\n"
	if code != 0 || stdout != "v1.5.0\n" || stderr != want {
		t.Errorf("policy eval -v = (stdout %q, stderr %q, exit %d); want (%q, %q, 0)", stdout, stderr, code, "v1.5.0\n", want)
	}
}

func TestPolicyEvalStructured(t *testing.T) {
	want := policyEvalOutput{
		Policy: "flux-system/podinfo-main",
		Result: policy.Result{
			Tag:   "main-b71e004-1711927000",
			Value: "1711927000",
			Diagnostics: policy.Diagnostics{Tags: 8, Candidates: 2, Ignored: []policy.Ignored{{
				Reason:   policy.ReasonNoFilterMatch,
				Count:    6,
				Examples: []string{"0.9.0", "1.0.0", "1.4.2"},
				Message:  `not matching pattern "^main-[a-fA-F0-9]+-(?P<ts>.*)"`,
			}}},
		},
	}
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			stdout, stderr, code := runPolicyCmd(t, mustRead(t, "tags.txt"), "eval", "-f", testdataFile("flux-filter.yaml"), "-o", format)
			if code != 0 || stderr != "" {
				t.Fatalf("policy eval -o %s: exit %d, stderr %q", format, code, stderr)
			}
			var got policyEvalOutput
			if err := yaml.UnmarshalStrict([]byte(stdout), &got); err != nil {
				t.Fatalf("decoding %q: %v", stdout, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("policy eval -o %s (-want +got):\n%s", format, diff)
			}
		})
	}
}

func TestPolicyEvalNoTag(t *testing.T) {
	stdout, stderr, code := runPolicyCmd(t, "latest\n0.1.0\n", "eval", "-f", testdataFile("semver.yaml"))
	wantErr := `ImagePolicy apps/podinfo: no tag qualifies: all 2 tags ignored: 1 not a semantic version (latest), 1 outside range ">=1.0.0" (0.1.0)`
	if code != exitNoTag || stdout != "" || stderr != wantErr {
		t.Errorf("policy eval = (stdout %q, stderr %q, exit %d); want (\"\", %q, %d)", stdout, stderr, code, wantErr, exitNoTag)
	}

	// JSON still carries the diagnostics, for scripts.
	stdout, _, code = runPolicyCmd(t, "", "eval", "-f", testdataFile("semver.yaml"), "-o", "json")
	var got policyEvalOutput
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("decoding %q: %v", stdout, err)
	}
	if code != exitNoTag || got.Tag != "" || got.Error != "no tag qualifies: there are no tags" {
		t.Errorf("policy eval -o json with no tags = %+v, exit %d; want an error and exit %d", got, code, exitNoTag)
	}
}

func TestPolicyEvalInvalid(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no file", []string{"eval"}, "no ImagePolicy given; use -f FILE"},
		{"missing file", []string{"eval", "-f", testdataFile("nope.yaml")}, "reading the policy: open testdata/policy/nope.yaml"},
		{"missing tags", []string{"eval", "-f", testdataFile("semver.yaml"), "--tags", testdataFile("nope.txt")}, "reading the tags: open testdata/policy/nope.txt"},
		{"both on stdin", []string{"eval", "-f", "-"}, "cannot both come from standard input"},
		{"output", []string{"eval", "-f", testdataFile("semver.yaml"), "-o", "xml"}, `unknown output format "xml"`},
		{"Flux v1beta2", []string{"eval", "-f", testdataFile("flux-v1beta2.yaml")},
			`ImagePolicy "old" has apiVersion "image.toolkit.fluxcd.io/v1beta2"; want image.dockhand.dev/v1 or image.toolkit.fluxcd.io/v1`},
		{"no ImagePolicy", []string{"eval", "-f", testdataFile("repository.yaml")},
			`has no ImagePolicy (found: ImageRepository "app" (image.dockhand.dev/v1))`},
		{"no such name", []string{"eval", "-f", testdataFile("two-policies.yaml"), "--name", "x"}, `has no ImagePolicy named "x"`},
		{"two policies", []string{"eval", "-f", testdataFile("two-policies.yaml")}, "holds 2 ImagePolicies (stable, candidates); choose one with --name"},
		{"bad range", []string{"eval", "-f", testdataFile("bad-range.yaml")},
			`ImagePolicy broken: spec.policy.semver.range: invalid value "1.0.0p"`},
		{"bad extract", []string{"eval", "-f", testdataFile("bad-extract.yaml")},
			`ImagePolicy typo: spec.filterTags.extract: invalid value "$timestamp": $timestamp refers to group "timestamp", but the pattern has only: ts`},
		{"unknown field", []string{"eval", "-f", testdataFile("unknown-field.yaml")}, `unknown field "spec.filterTags.patern"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runPolicyCmd(t, "1.0.0\n", tc.args...)
			if code != exitInvalidInput || stdout != "" || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("policy %s = (stdout %q, stderr %q, exit %d); want exit %d and a message containing %q",
					strings.Join(tc.args, " "), stdout, stderr, code, exitInvalidInput, tc.wantErr)
			}
		})
	}
}

func TestPolicyEvalImage(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // never the developer's own
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "0.9.0", "1.2.0", "v1.10.0", "2.0.0-rc.1", "latest", "sha256-abc.sig")

	stdout, stderr, code := runPolicyCmd(t, "", "eval", "-f", testdataFile("semver.yaml"), "--image", reg.Repo("team/app"), "--insecure", "-v")
	wantErr := `apps/podinfo: 3 of 5 tags ignored: 1 not a semantic version (latest), 1 pre-release excluded by range ">=1.0.0" (2.0.0-rc.1), ` +
		`1 outside range ">=1.0.0" (0.9.0)` + "\n"
	if code != 0 || stdout != "v1.10.0\n" || stderr != wantErr {
		t.Errorf("policy eval --image = (stdout %q, stderr %q, exit %d); want (%q, %q, 0)", stdout, stderr, code, "v1.10.0\n", wantErr)
	}

	_, stderr, code = runPolicyCmd(t, "", "eval", "-f", testdataFile("semver.yaml"), "--image", reg.Repo("team/none"), "--insecure")
	if code != exitScanNotFound {
		t.Errorf("policy eval --image of a missing repository: exit %d (%s); want %d", code, stderr, exitScanNotFound)
	}

	_, stderr, code = runPolicyCmd(t, "", "eval", "-f", testdataFile("semver.yaml"), "--image", reg.Repo("team/app"), "--tags", "-")
	if code != exitInvalidInput || !strings.Contains(stderr, "not both") {
		t.Errorf("policy eval --image --tags: exit %d (%s); want %d", code, stderr, exitInvalidInput)
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(testdataFile(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

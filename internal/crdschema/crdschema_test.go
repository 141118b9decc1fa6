package crdschema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func newValidator(t *testing.T) *Validator {
	t.Helper()
	v, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func decode(t *testing.T, doc string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatalf("decoding test object: %v", err)
	}
	return obj
}

func TestSamplesAreValid(t *testing.T) {
	v := newValidator(t)
	files, err := filepath.Glob("../../config/samples/image_v1_*.yaml")
	if err != nil || len(files) != 3 {
		t.Fatalf("samples = %v, %v; want three files", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if errs := v.DefaultAndValidate(t.Context(), decode(t, string(raw))); len(errs) > 0 {
			t.Errorf("DefaultAndValidate(%s) = %v, want no errors", f, errs)
		}
	}
}

func TestDefaultsApplied(t *testing.T) {
	v := newValidator(t)
	obj := decode(t, `
apiVersion: image.dockhand.dev/v1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy:
    alphabetical: {}
`)
	if errs := v.DefaultAndValidate(t.Context(), obj); len(errs) > 0 {
		t.Fatalf("DefaultAndValidate = %v, want no errors", errs)
	}
	spec := obj["spec"].(map[string]any)
	if got := spec["digestReflectionPolicy"]; got != "Never" {
		t.Errorf("spec.digestReflectionPolicy = %v, want Never", got)
	}
	if got := spec["policy"].(map[string]any)["alphabetical"].(map[string]any)["order"]; got != "asc" {
		t.Errorf("spec.policy.alphabetical.order = %v, want asc", got)
	}
}

func TestInvalidObjects(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name      string
		doc       string
		wantField string
	}{
		{
			name: "two policy choices",
			doc: `
apiVersion: image.dockhand.dev/v1
kind: ImagePolicy
metadata: {name: app}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: 1.x}, alphabetical: {}}`,
			wantField: "spec.policy",
		},
		{
			name: "interval without Always",
			doc: `
apiVersion: image.dockhand.dev/v1
kind: ImagePolicy
metadata: {name: app}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: 1.x}}
  interval: 5m`,
			wantField: "spec.interval",
		},
		{
			name: "unknown field",
			doc: `
apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata: {name: app}
spec:
  image: example.com/app
  interval: 5m
  intervall: 5m`,
			wantField: "spec.intervall",
		},
		{
			name: "bad duration",
			doc: `
apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata: {name: app}
spec:
  image: example.com/app
  interval: five minutes`,
			wantField: "spec.interval",
		},
		{
			name: "bad enum",
			doc: `
apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata: {name: app}
spec:
  image: example.com/app
  interval: 5m
  provider: digitalocean`,
			wantField: "spec.provider",
		},
		{
			name: "update path escapes",
			doc: `
apiVersion: image.dockhand.dev/v1
kind: ImageUpdateAutomation
metadata: {name: app}
spec:
  interval: 5m
  sourceRef: {kind: GitRepository, name: repo}
  git:
    commit: {author: {email: bot@example.com}}
  update: {path: ../other}`,
			wantField: "spec.update.path",
		},
		{
			name: "pull request without push branch",
			doc: `
apiVersion: image.dockhand.dev/v1
kind: ImageUpdateAutomation
metadata: {name: app}
spec:
  interval: 5m
  sourceRef: {kind: GitRepository, name: repo}
  git:
    commit: {author: {email: bot@example.com}}
    pullRequest: {provider: github}`,
			wantField: "spec.git.pullRequest",
		},
		{
			name: "missing name",
			doc: `
apiVersion: image.dockhand.dev/v1
kind: ImageRepository
metadata: {namespace: apps}
spec: {image: example.com/app, interval: 5m}`,
			wantField: "metadata.name",
		},
		{
			name: "unknown kind",
			doc: `
apiVersion: image.dockhand.dev/v1
kind: ImageThing
metadata: {name: x}`,
			wantField: "kind",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := v.DefaultAndValidate(t.Context(), decode(t, tt.doc))
			if len(errs) == 0 {
				t.Fatalf("DefaultAndValidate = no errors, want one on %s", tt.wantField)
			}
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
				if e.Field == tt.wantField {
					return
				}
			}
			t.Errorf("DefaultAndValidate errors on fields %s (%v), want one on %s", strings.Join(fields, ", "), errs, tt.wantField)
		})
	}
}

package commitmsg

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sample() Data {
	deploy := ObjectIdentifier{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "app"}
	return Data{
		AutomationObject: ObjectKey{Name: "auto", Namespace: "flux-system"},
		Values:           map[string]string{"env": "prod"},
		Changed: Result{FileChanges: map[string]ObjectChanges{
			"deploy.yaml": {deploy: {{OldValue: "app:1.0.0", NewValue: "app:1.0.1", Setter: "flux-system:app"}}},
			"cron.yaml": {
				{APIVersion: "batch/v1", Kind: "CronJob", Namespace: "default", Name: "job"}: {{OldValue: "1.0.0", NewValue: "1.0.1", Setter: "flux-system:job:tag"}},
			},
		}},
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty is Flux default", "", DefaultMessage},
		{"automation object", "by {{ .AutomationObject }} ({{ .AutomationObject.Name }})", "by flux-system/auto (auto)"},
		{"values", "env={{ .Values.env }}", "env=prod"},
		{"changes sorted by file", `{{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }};{{ end }}`, "1.0.0 -> 1.0.1;app:1.0.0 -> app:1.0.1;"},
		{"file changes sorted", `{{ range $f, $o := .Changed.FileChanges }}{{ $f }} {{ end }}`, "cron.yaml deploy.yaml "},
		{"objects", `{{ range $id, $c := .Changed.Objects }}{{ if eq $id.Kind "Deployment" }}{{ $id.Name }}={{ (index $c 0).NewValue }}{{ end }}{{ end }}`, "app=app:1.0.1"},
		{"sprig hermetic", `{{ "a,b" | splitList "," | join "+" | upper }} {{ .Values.env | quote }}`, `A+B "prod"`},
		{"flux doc example", `Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
{{- if eq $resource.Kind "Deployment" -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
{{ end -}}`, `Automated image update

Automation name: flux-system/auto

Files:
- cron.yaml
- deploy.yaml
Objects:
- Deployment app
  Changes:
    - app:1.0.0 -> app:1.0.1
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render("msg", tc.text, sample())
			if err != nil {
				t.Fatalf("Render(%q) error: %v", tc.text, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Render(%q) (-want +got):\n%s", tc.text, diff)
			}
		})
	}
}

func TestRemovedFields(t *testing.T) {
	tests := []struct{ text, field string }{
		{"{{ range .Updated.Images }}{{ . }}{{ end }}", ".Updated.Images"},
		{"line one\n{{ .Changed.ImageResult.Files }}", ".Changed.ImageResult.Files"},
		{"{{ range .Changed.Changes }}{{ $.Updated }}{{ end }}", "$.Updated"},
		{"{{ if .Updated }}x{{ end }}", ".Updated"},
		{"{{ with .Changed }}{{ .ImageResult }}{{ end }}", ".ImageResult"},
	}
	for _, tc := range tests {
		_, err := Render("msg", tc.text, sample())
		var rf *RemovedFieldError
		if !errors.As(err, &rf) {
			t.Fatalf("Render(%q) error = %v, want *RemovedFieldError", tc.text, err)
		}
		if rf.Field != tc.field {
			t.Errorf("Render(%q) field = %q, want %q", tc.text, rf.Field, tc.field)
		}
		if !strings.Contains(err.Error(), ".Changed.Objects") {
			t.Errorf("Render(%q) error %q does not say what to use instead", tc.text, err)
		}
	}
	_, err := Render("msg", "a\n\n{{ .Updated }}", sample())
	if !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %q does not name line 3", err)
	}
}

func TestErrors(t *testing.T) {
	if _, err := Render("msg", "{{ .Nope }}", sample()); err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("unknown field: error = %v", err)
	}
	if _, err := Render("msg", "{{ now }}", sample()); err == nil {
		t.Errorf("non-hermetic function now: no error")
	}
	if _, err := Render("msg", `{{ repeat 2000000 "x" }}`, sample()); !errors.Is(err, ErrTooLong) {
		t.Errorf("huge output: error = %v, want ErrTooLong", err)
	}
}

func FuzzRender(f *testing.F) {
	f.Add("{{ .AutomationObject }}")
	f.Add("{{ range .Changed.Changes }}{{ .NewValue }}{{ end }}")
	f.Add("{{ .Updated }}")
	f.Add("{{ define \"x\" }}{{ .Changed.ImageResult }}{{ end }}{{ template \"x\" . }}")
	f.Fuzz(func(t *testing.T, text string) {
		out, err := Render("fuzz", text, sample())
		if err == nil && len(out) > MaxOutput {
			t.Fatalf("output of %d bytes exceeds MaxOutput", len(out))
		}
	})
}

func ExampleRender() {
	msg, _ := Render("commit", "{{ range .Changed.Changes }}{{ .OldValue }} -> {{ .NewValue }}\n{{ end }}", Data{
		Changed: Result{FileChanges: map[string]ObjectChanges{
			"app.yaml": {{Kind: "Deployment", Name: "app"}: {{OldValue: "app:1", NewValue: "app:2"}}},
		}},
	})
	fmt.Print(msg)
	// Output: app:1 -> app:2
}

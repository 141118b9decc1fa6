package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dockhand-dev/dockhand/internal/crdschema"
)

// FuzzLoadFile feeds arbitrary bytes to the loader as one manifest file:
// it must not panic, and every problem and every object it reports must be
// located in that file, on a line the file has.
func FuzzLoadFile(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		raw, err := os.ReadFile(s)
		if err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte("apiVersion: image.dockhand.dev/v1\nkind: ImagePolicy\nmetadata: {name: a}\nspec: [1, 2]\n"))
	f.Add([]byte("kind: List\nitems:\n- *x\n"))
	f.Add([]byte("{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": \"s\"}, \"stringData\": {\"a\": 1}}"))
	v, err := crdschema.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		l := &loader{opts: Options{DefaultNamespace: "default", Validator: v}, objs: &Objects{sources: map[string]Source{}}}
		l.file(t.Context(), "f.yaml", raw)
		lines := bytes.Count(raw, []byte("\n")) + 1
		for _, p := range l.problems {
			if p.File != "f.yaml" || p.Line < 0 || p.Line > lines {
				t.Errorf("problem %q located at %s, outside the file's %d lines", p.Message, p.Source, lines)
			}
			if p.Message == "" {
				t.Errorf("problem at %s without a message", p.Source)
			}
		}
		for key, src := range l.objs.sources {
			if src.File != "f.yaml" || src.Line < 1 || src.Line > lines {
				t.Errorf("object %s located at %s, outside the file's %d lines", key, src, lines)
			}
		}
	})
}

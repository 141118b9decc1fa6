package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/dockhand-dev/dockhand/internal/version"
)

func TestVersionText(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCmd(&out, &out)
	cmd.SetArgs([]string{"version"})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("dockhand version: %v", err)
	}
	for _, want := range []string{"dockhand ", "commit:", runtime.Version()} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dockhand version output %q lacks %q", out.String(), want)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCmd(&out, &out)
	cmd.SetArgs([]string{"version", "-o", "json"})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("dockhand version -o json: %v", err)
	}
	var got version.Info
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("decoding %q: %v", out.String(), err)
	}
	if got.GoVersion != runtime.Version() || got.Version == "" || got.Commit == "" {
		t.Errorf("dockhand version -o json = %+v, want every field set", got)
	}
}

func TestVersionBadOutput(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCmd(&out, &out)
	cmd.SetArgs([]string{"version", "-o", "xml"})
	err := cmd.ExecuteContext(t.Context())
	if got := exitCode(err); got != 2 {
		t.Errorf("exit code of dockhand version -o xml = %d, want 2", got)
	}
}

func TestHelpListsCommands(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCmd(&out, &out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("dockhand --help: %v", err)
	}
	for _, c := range cmd.Commands() {
		if !c.Hidden && !strings.Contains(out.String(), c.Name()) {
			t.Errorf("dockhand --help does not list %q", c.Name())
		}
	}
}

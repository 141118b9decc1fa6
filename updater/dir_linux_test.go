package updater

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A directory whose listing takes several getdents calls comes back whole,
// each name once, with its type.
func TestReadDirLarge(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 1500 {
		// Long names: 1,500 records of about 90 bytes fill the 32 KB
		// buffer four times over.
		name := fmt.Sprintf("%04d-%s.yaml", i, strings.Repeat("n", 60))
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	entries, err := readDir(dir, &dirScratch{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		switch e.name {
		case "sub":
			if e.typ != fs.ModeDir {
				t.Errorf("type of sub = %v, want a directory", e.typ)
			}
		case "link":
			if e.typ != fs.ModeSymlink {
				t.Errorf("type of link = %v, want a symlink", e.typ)
			}
		default:
			if e.typ != 0 {
				t.Errorf("type of %s = %v, want a regular file", e.name, e.typ)
			}
			got = append(got, e.name)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("readDir returned %d files, want %d, or different names", len(got), len(want))
	}
	if len(entries) != len(want)+2 {
		t.Errorf("readDir returned %d entries, want %d", len(entries), len(want)+2)
	}
}

// Entries without a type from the listing get it from lstat.
func TestResolveUnknown(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": "a: 1\n", "sub/b.yaml": "b: 1\n"})
	if err := os.Symlink("a.yaml", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	entries := []dirent{
		{name: "a.yaml", typ: modeUnknown},
		{name: "sub", typ: modeUnknown},
		{name: "link.yaml", typ: modeUnknown},
		{name: "gone.yaml", typ: modeUnknown},
		{name: "kept", typ: fs.ModeDir},
	}
	resolveUnknown(dir, entries)
	want := []fs.FileMode{0, fs.ModeDir, fs.ModeSymlink, fs.ModeIrregular, fs.ModeDir}
	for i, e := range entries {
		if e.typ != want[i] {
			t.Errorf("type of %s = %v, want %v", e.name, e.typ, want[i])
		}
	}
}

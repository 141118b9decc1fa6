package updater

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBlobHash(t *testing.T) {
	// Known values of "git hash-object".
	for content, want := range map[string]string{
		"":              "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
		"hello world\n": "3b18e512dba79e4c8300dd08aeb37f8e728b8dad",
	} {
		if got := BlobHash([]byte(content)); got != want {
			t.Errorf("BlobHash(%q) = %s, want %s", content, got, want)
		}
	}
}

func sampleIndex() *Index {
	ix := NewIndex()
	ix.namespace = "apps"
	ix.applied["apps/web"] = Ref{Name: "ghcr.io/org/web", Tag: "1.10", Digest: "sha256:ab"}
	ix.Set("a.yaml", IndexEntry{BlobHash: BlobHash([]byte("a")), HasMarkers: true, Policies: []string{"apps/api", "apps/web"}})
	ix.Set("b/c.yml", IndexEntry{BlobHash: BlobHash([]byte("c"))})
	ix.Set("failed.yaml", IndexEntry{HasMarkers: true})
	ix.Set("odd.yaml", IndexEntry{BlobHash: "not-hex"})
	return ix
}

func TestIndexRoundTrip(t *testing.T) {
	ix := sampleIndex()
	opts := cmp.AllowUnexported(Index{})
	bin, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var fromBin Index
	if err := fromBin.UnmarshalBinary(bin); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	if diff := cmp.Diff(ix, &fromBin, opts); diff != "" {
		t.Errorf("binary round trip (-want +got):\n%s", diff)
	}
	again, _ := fromBin.MarshalBinary()
	if string(again) != string(bin) {
		t.Error("MarshalBinary is not deterministic")
	}
	js, err := ix.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON Index
	if err := fromJSON.UnmarshalJSON(js); err != nil {
		t.Fatalf("UnmarshalJSON: %v", err)
	}
	if diff := cmp.Diff(ix, &fromJSON, opts); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a.yaml", "failed.yaml"}, ix.Marked()); diff != "" {
		t.Errorf("Marked() (-want +got):\n%s", diff)
	}
}

func TestIndexUnmarshalCorrupt(t *testing.T) {
	bin, _ := sampleIndex().MarshalBinary()
	for i := range len(bin) {
		var ix Index
		if err := ix.UnmarshalBinary(bin[:i]); err == nil {
			t.Errorf("UnmarshalBinary of the first %d bytes succeeded", i)
		}
	}
}

func FuzzIndexUnmarshalBinary(f *testing.F) {
	bin, _ := sampleIndex().MarshalBinary()
	f.Add(bin)
	f.Add([]byte(indexMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ix Index
		if err := ix.UnmarshalBinary(data); err != nil {
			return
		}
		if _, err := ix.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}

// warmTree is a small repository for warm-run tests.
func warmTree(t *testing.T) string {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"web.yaml":       webMarked,
		"api.yaml":       "image: ghcr.io/org/api:1.0 # {\"$imagepolicy\": \"apps:api\"}\n",
		"plain.yaml":     "a: b\n",
		"sub/plain.yaml": "c: d\n",
		"notes.txt":      webMarked,
	})
	return dir
}

var warmPolicies = map[string]Ref{
	"apps/web": {Name: "ghcr.io/org/web", Tag: "1.10"},
	"apps/api": {Name: "ghcr.io/org/api", Tag: "2.0"},
}

func TestIndexColdRunRecordsFiles(t *testing.T) {
	dir := warmTree(t)
	ix := NewIndex()
	if _, err := Apply(t.Context(), dir, warmPolicies, WithIndex(ix)); err != nil {
		t.Fatal(err)
	}
	want := map[string]IndexEntry{
		"web.yaml":       {BlobHash: BlobHash([]byte(readString(t, filepath.Join(dir, "web.yaml")))), HasMarkers: true, Policies: []string{"apps/web"}},
		"api.yaml":       {BlobHash: BlobHash([]byte(readString(t, filepath.Join(dir, "api.yaml")))), HasMarkers: true, Policies: []string{"apps/api"}},
		"plain.yaml":     {BlobHash: BlobHash([]byte("a: b\n"))},
		"sub/plain.yaml": {BlobHash: BlobHash([]byte("c: d\n"))},
	}
	if diff := cmp.Diff(want, ix.entries); diff != "" {
		t.Errorf("index entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(warmPolicies, ix.applied); diff != "" {
		t.Errorf("applied refs (-want +got):\n%s", diff)
	}
}

func TestWarmRunReadsOnlyWhatChanged(t *testing.T) {
	dir := warmTree(t)
	ix := NewIndex()
	if _, err := Apply(t.Context(), dir, warmPolicies, WithIndex(ix)); err != nil {
		t.Fatal(err)
	}

	// Nothing changed: nothing is read.
	res, err := Apply(t.Context(), dir, warmPolicies, WithIndex(ix), WithChangedPaths(nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Read != 0 {
		t.Errorf("warm run with nothing changed read %d files, want 0", res.Stats.Read)
	}

	// A file gains a marker and another is deleted.
	writeFiles(t, dir, map[string]string{"sub/plain.yaml": "c: d\n" + webMarked})
	if err := os.Remove(filepath.Join(dir, "plain.yaml")); err != nil {
		t.Fatal(err)
	}
	res, err = Apply(t.Context(), dir, warmPolicies, WithIndex(ix), WithChangedPaths([]string{"sub/plain.yaml", "plain.yaml", "notes.txt"}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sub/plain.yaml"}, res.Files()); diff != "" {
		t.Errorf("files changed (-want +got):\n%s", diff)
	}
	if res.Stats.Read != 1 {
		t.Errorf("warm run read %d files, want 1", res.Stats.Read)
	}
	if _, ok := ix.Get("plain.yaml"); ok {
		t.Error("the deleted plain.yaml is still in the index")
	}
	if e, _ := ix.Get("sub/plain.yaml"); !e.HasMarkers || e.BlobHash != BlobHash([]byte(readString(t, filepath.Join(dir, "sub/plain.yaml")))) {
		t.Errorf("index entry of sub/plain.yaml = %+v, want the hash of the new content, with markers", e)
	}

	// A policy moves on: only the files that name it are read.
	next := map[string]Ref{"apps/web": warmPolicies["apps/web"], "apps/api": {Name: "ghcr.io/org/api", Tag: "2.1"}}
	res, err = Apply(t.Context(), dir, next, WithIndex(ix), WithChangedPaths(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"api.yaml"}, res.Files()); diff != "" {
		t.Errorf("files changed (-want +got):\n%s", diff)
	}
	if res.Stats.Read != 1 {
		t.Errorf("warm run read %d files, want 1", res.Stats.Read)
	}

	// A new .sourceignore changes what is eligible: everything is read.
	writeFiles(t, dir, map[string]string{".sourceignore": "sub/\n"})
	res, err = Apply(t.Context(), dir, next, WithIndex(ix), WithChangedPaths([]string{".sourceignore"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Read != 2 {
		t.Errorf("warm run after a .sourceignore change read %d files, want 2 (a full scan)", res.Stats.Read)
	}
	if _, ok := ix.Get("sub/plain.yaml"); ok {
		t.Error("the now ignored sub/plain.yaml is still in the index")
	}

	// A dry run leaves the index alone.
	before, _ := ix.MarshalBinary()
	if _, err := Apply(t.Context(), dir, warmPolicies, WithIndex(ix), WithDryRun()); err != nil {
		t.Fatal(err)
	}
	after, _ := ix.MarshalBinary()
	if string(before) != string(after) {
		t.Error("a dry run changed the index")
	}
}

func TestWarmRunHonoursIgnoreAndSymlinks(t *testing.T) {
	dir := warmTree(t)
	writeFiles(t, dir, map[string]string{".sourceignore": "ignored/\n", "ignored/a.yaml": webMarked, "real/a.yaml": webMarked, ".git/a.yaml": webMarked})
	if err := os.Symlink("real", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	ix := NewIndex()
	if _, err := Apply(t.Context(), dir, warmPolicies, WithIndex(ix)); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"ignored/a.yaml": webMarked, "real/a.yaml": webMarked})
	res, err := Apply(t.Context(), dir, warmPolicies, WithIndex(ix),
		WithChangedPaths([]string{"ignored/a.yaml", "link/a.yaml", ".git/a.yaml", "real/a.yaml"}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"real/a.yaml"}, res.Files()); diff != "" {
		t.Errorf("files changed (-want +got):\n%s", diff)
	}
}

func TestWarmRunMatchesColdRun(t *testing.T) {
	cold, warm := warmTree(t), warmTree(t)
	ix := NewIndex()
	if _, err := Apply(t.Context(), warm, warmPolicies, WithIndex(ix)); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(t.Context(), cold, warmPolicies); err != nil {
		t.Fatal(err)
	}
	change := map[string]string{"new/x.yaml": "x: 1 # {\"$imagepolicy\": \"apps:api:tag\"}\n"}
	writeFiles(t, cold, change)
	writeFiles(t, warm, change)
	next := map[string]Ref{"apps/web": {Name: "ghcr.io/org/web", Tag: "1.11"}, "apps/api": warmPolicies["apps/api"]}
	coldRes, err := Apply(t.Context(), cold, next)
	if err != nil {
		t.Fatal(err)
	}
	warmRes, err := Apply(t.Context(), warm, next, WithIndex(ix), WithChangedPaths([]string{"new/x.yaml"}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(coldRes.FileChanges, warmRes.FileChanges); diff != "" {
		t.Errorf("warm changes differ from cold (-cold +warm):\n%s", diff)
	}
	if diff := cmp.Diff(readTree(t, cold), readTree(t, warm)); diff != "" {
		t.Errorf("warm tree differs from cold (-cold +warm):\n%s", diff)
	}
}

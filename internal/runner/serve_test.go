package runner

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A dry run beside a running process gets the whole state file from it:
// records, stored tags and the clone cache location.
func TestSnapshotFromSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	st, err := OpenState(path, StateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := Record{Kind: KindPolicy, Namespace: "apps", Name: "web", Generation: 2, Object: []byte(`{}`)}
	if err := st.Put(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Tags().Put("apps/web", []string{"1.0.0", "1.1.0"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.SetCacheDir("/var/cache/dockhand"); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(dir, "copy.db")
	if err := SnapshotFromSocket(t.Context(), path, dst); err == nil {
		t.Fatal("SnapshotFromSocket with nobody serving: no error")
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("a failed snapshot left %s behind: %v", dst, err)
	}

	stop, err := st.ServeRecords()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := SnapshotFromSocket(t.Context(), path, dst); err != nil {
		t.Fatal(err)
	}
	if err := SnapshotFromSocket(t.Context(), path, dst); err == nil {
		t.Error("SnapshotFromSocket over an existing file: no error")
	}
	cp, err := OpenState(dst, StateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	got, ok, err := cp.Get(KindPolicy, "apps", "web")
	if err != nil || !ok || got.Generation != 2 {
		t.Errorf("record in the copy = %+v, %v, %v", got, ok, err)
	}
	tags, err := cp.Tags().Tags("apps/web")
	if err != nil || !slices.Equal(tags, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("tags in the copy = %v, %v", tags, err)
	}
	if d, err := cp.CacheDir(); err != nil || d != "/var/cache/dockhand" {
		t.Errorf("cache dir in the copy = %q, %v", d, err)
	}
}

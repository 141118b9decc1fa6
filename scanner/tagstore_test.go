package scanner

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func openStore(t testing.TB, path string) *TagStore {
	t.Helper()
	s, err := OpenTagStore(path)
	if err != nil {
		t.Fatalf("OpenTagStore(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func numberedTags(prefix string, n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("%s%06d", prefix, i)
	}
	return tags
}

func TestTagStorePutAndRead(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		tags       []string
		wantTags   []string
		wantLatest []string
	}{
		{
			name:       "empty",
			tags:       nil,
			wantTags:   []string{},
			wantLatest: nil,
		},
		{
			name:       "sorted and deduplicated",
			tags:       []string{"v2", "v1", "latest", "v1"},
			wantTags:   []string{"latest", "v1", "v2"},
			wantLatest: []string{"v2", "v1", "latest"},
		},
		{
			name:       "latest sample holds ten",
			tags:       numberedTags("t", 25),
			wantTags:   numberedTags("t", 25),
			wantLatest: []string{"t000024", "t000023", "t000022", "t000021", "t000020", "t000019", "t000018", "t000017", "t000016", "t000015"},
		},
		{
			name:     "large list is compressed and round-trips",
			tags:     numberedTags("1.0.", 20000),
			wantTags: numberedTags("1.0.", 20000),
			wantLatest: []string{"1.0.019999", "1.0.019998", "1.0.019997", "1.0.019996", "1.0.019995",
				"1.0.019994", "1.0.019993", "1.0.019992", "1.0.019991", "1.0.019990"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
			res, err := s.Put("ns/repo", tt.tags, now)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if res.TagCount != len(tt.wantTags) {
				t.Errorf("Put(...).TagCount = %d, want %d", res.TagCount, len(tt.wantTags))
			}
			if diff := cmp.Diff(tt.wantLatest, res.LatestTags); diff != "" {
				t.Errorf("Put(...).LatestTags (-want +got):\n%s", diff)
			}
			got, err := s.Tags("ns/repo")
			if err != nil {
				t.Fatalf("Tags: %v", err)
			}
			if diff := cmp.Diff(tt.wantTags, got); diff != "" {
				t.Errorf("Tags (-want +got):\n%s", diff)
			}
			stored, ok, err := s.Result("ns/repo")
			if err != nil || !ok {
				t.Fatalf("Result = _, %v, %v; want a stored result", ok, err)
			}
			if diff := cmp.Diff(res, stored); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTagStoreRevision(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now()
	a, err := s.Put("a", []string{"1", "2", "3"}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put("b", []string{"3", "1", "2", "2"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != b.Revision {
		t.Errorf("revisions of the same set in different orders differ: %s vs %s", a.Revision, b.Revision)
	}
	c, err := s.Put("a", []string{"1", "2", "3", "4"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Revision == a.Revision {
		t.Errorf("revision did not change when a tag was added: %s", c.Revision)
	}
	// The same set again keeps its revision and moves the scan time.
	later := now.Add(time.Minute)
	d, err := s.Put("a", []string{"4", "3", "2", "1"}, later)
	if err != nil {
		t.Fatal(err)
	}
	if d.Revision != c.Revision || !d.ScanTime.Equal(later) {
		t.Errorf("Put of an unchanged set = %+v, want revision %s and scan time %v", d, c.Revision, later)
	}
}

func TestTagStoreKeysAreIsolated(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	if _, err := s.Put("team-a/app", []string{"private-1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("team-b/app", []string{"public-1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Tags("team-b/app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"public-1"}, got); diff != "" {
		t.Errorf("Tags(team-b/app) (-want +got):\n%s", diff)
	}
}

func TestTagStoreSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenTagStore(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Put("ns/repo", numberedTags("v", 5000), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, path)
	got, ok, err := s.Result("ns/repo")
	if err != nil || !ok {
		t.Fatalf("Result after reopening = _, %v, %v; want the stored result", ok, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Result after reopening (-want +got):\n%s", diff)
	}
	tags, err := s.Tags("ns/repo")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 5000 {
		t.Errorf("len(Tags) after reopening = %d, want 5000", len(tags))
	}
}

func TestTagStoreDelete(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	if _, err := s.Put("ns/repo", []string{"v1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("ns/repo"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Delete("ns/never-stored"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if _, err := s.Tags("ns/repo"); !errors.Is(err, ErrNoTags) {
		t.Errorf("Tags after Delete: err = %v, want ErrNoTags", err)
	}
	if _, ok, _ := s.Result("ns/repo"); ok {
		t.Errorf("Result after Delete: ok = true, want false")
	}
	keys, err := s.Keys()
	if err != nil || len(keys) != 0 {
		t.Errorf("Keys after Delete = %v, %v; want none", keys, err)
	}
}

func TestTagStoreDeleteMany(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	for _, k := range []string{"ns/a", "ns/b", "ns/c"} {
		if _, err := s.Put(k, []string{"v1"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMany(); err != nil {
		t.Errorf("DeleteMany of nothing: %v", err)
	}
	if err := s.DeleteMany("ns/a", "ns/never-stored", "ns/c"); err != nil {
		t.Fatalf("DeleteMany: %v", err)
	}
	keys, err := s.Keys()
	if err != nil || !slices.Equal(keys, []string{"ns/b"}) {
		t.Errorf("Keys after DeleteMany = %v, %v; want [ns/b]", keys, err)
	}
	if _, err := s.Tags("ns/a"); !errors.Is(err, ErrNoTags) {
		t.Errorf("Tags of a deleted key: err = %v, want ErrNoTags", err)
	}
}

func TestTagStoreConcurrentPuts(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			key := fmt.Sprintf("ns/repo-%02d", i)
			if _, err := s.Put(key, numberedTags("t", 100+i), time.Now()); err != nil {
				t.Errorf("Put(%s): %v", key, err)
			}
		})
	}
	wg.Wait()
	for i := range 50 {
		key := fmt.Sprintf("ns/repo-%02d", i)
		tags, err := s.Tags(key)
		if err != nil || len(tags) != 100+i {
			t.Errorf("Tags(%s) = %d tags, %v; want %d", key, len(tags), err, 100+i)
		}
	}
}

func TestTagStoreSharedDB(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := NewTagStore(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("k", []string{"a"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close of a store over a shared database leaves the database open.
	if err := db.View(func(*bolt.Tx) error { return nil }); err != nil {
		t.Errorf("database closed by TagStore.Close: %v", err)
	}
}

func TestDecodeBlobRejectsCorruption(t *testing.T) {
	for _, blob := range [][]byte{
		{},
		{7, 'a'},
		{blobDeflated},
		{blobDeflated, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		{blobDeflated, 10, 1, 2, 3},
	} {
		if _, err := decodeBlob(blob); err == nil {
			t.Errorf("decodeBlob(%v) = nil error, want corruption reported", blob)
		}
	}
}

func BenchmarkTagStore(b *testing.B) {
	tags := numberedTags("1.2.", 100000)
	b.Run("put/100k", func(b *testing.B) {
		s := openStore(b, filepath.Join(b.TempDir(), "state.db"))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			// A new key each time, so every Put writes the list.
			if _, err := s.Put(fmt.Sprintf("ns/r%d", i), tags, time.Now()); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("get/100k", func(b *testing.B) {
		s := openStore(b, filepath.Join(b.TempDir(), "state.db"))
		if _, err := s.Put("ns/r", tags, time.Now()); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			got, err := s.Tags("ns/r")
			if err != nil || len(got) != len(tags) {
				b.Fatalf("Tags = %d, %v", len(got), err)
			}
		}
	})
}

package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/dockhand-dev/dockhand/scanner"
)

// Buckets of the runner inside the state file, next to the TagStore's.
var (
	objectsBucket = []byte("dockhand.objects.v1")
	runnerBucket  = []byte("dockhand.runner.v1")
)

// Keys of runnerBucket.
var cacheDirKey = []byte("cacheDir")

// ErrStateBusy is returned by OpenState when another process holds the
// state file (a `dockhand run` that is still running) for longer than the
// timeout.
var ErrStateBusy = errors.New("the state file is in use by another process")

// Record is what the state file keeps about one object: the object as last
// reconciled (metadata, spec and status, as JSON) and the bookkeeping that
// stands in for the API server's.
type Record struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Generation counts spec changes, from 1, as metadata.generation does
	// on a cluster: it grows when SpecHash changes between runs.
	Generation int64  `json:"generation"`
	SpecHash   string `json:"specHash"`
	// Created is when the runner first saw the object (its
	// creationTimestamp); Updated when it last wrote the record.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Source is the file and line the object was read from.
	Source string `json:"source,omitempty"`
	// Object is the whole object as JSON.
	Object json.RawMessage `json:"object"`
}

// Decode unmarshals the object into one of the API types.
func (r Record) Decode(into any) error {
	if err := json.Unmarshal(r.Object, into); err != nil {
		return fmt.Errorf("decoding %s %s/%s from the state file: %w", r.Kind, r.Namespace, r.Name, err)
	}
	return nil
}

func recordKey(kind, namespace, name string) []byte {
	return []byte(kind + "/" + namespace + "/" + name)
}

// State is the runner's bbolt file: the tags of each ImageRepository (the
// scanner's TagStore buckets), the last status of every object the runner
// reconciled, and where its clone cache lives. One process at a time may
// open it for writing; bbolt's file lock enforces that.
type State struct {
	path string
	db   *bolt.DB
	tags *scanner.TagStore // nil when read-only
}

// StateOptions tune OpenState. The zero value opens for writing and waits
// up to five seconds for another process to let go of the file.
type StateOptions struct {
	// ReadOnly opens an existing file without writing to it (dockhand
	// get). Default false: read-write, created when missing.
	ReadOnly bool
	// Timeout bounds the wait for the file lock. Zero means five seconds.
	Timeout time.Duration
}

// OpenState opens the state file at path.
func OpenState(path string, opts StateOptions) (*State, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating the state directory: %w", err)
		}
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("opening state file: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening state file %s: %w", path, ErrStateBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("opening state file %s: %w", path, err)
	}
	s := &State{path: path, db: db}
	if opts.ReadOnly {
		return s, nil
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{objectsBucket, runnerBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.tags, err = scanner.NewTagStore(db)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("preparing state file %s: %w", path, err)
	}
	return s, nil
}

// Path is the file's path.
func (s *State) Path() string { return s.path }

// Tags is the TagStore in the same file; nil when opened read-only.
func (s *State) Tags() *scanner.TagStore { return s.tags }

// Close closes the file.
func (s *State) Close() error { return s.db.Close() }

// Get returns the record of one object; ok is false when there is none.
func (s *State) Get(kind, namespace, name string) (rec Record, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(objectsBucket)
		if b == nil {
			return nil
		}
		raw := b.Get(recordKey(kind, namespace, name))
		if raw == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(raw, &rec)
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("reading %s %s/%s from the state file: %w", kind, namespace, name, err)
	}
	return rec, ok, nil
}

// Records returns every record, of every kind, sorted by kind, namespace
// and name.
func (s *State) Records() ([]Record, error) {
	var recs []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(objectsBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec Record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("record %s: %w", k, err)
			}
			recs = append(recs, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading the state file: %w", err)
	}
	sort.Slice(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return recs, nil
}

// Put writes records in one transaction (the Runner groups its writes, so
// objects finishing together cost one disk sync).
func (s *State) Put(recs ...Record) error {
	raws := make([][]byte, len(recs))
	for i, r := range recs {
		raw, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encoding %s %s/%s: %w", r.Kind, r.Namespace, r.Name, err)
		}
		raws[i] = raw
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(objectsBucket)
		for i, r := range recs {
			if err := b.Put(recordKey(r.Kind, r.Namespace, r.Name), raws[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing the state file: %w", err)
	}
	return nil
}

// Delete removes the record of one object.
func (s *State) Delete(kind, namespace, name string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(objectsBucket).Delete(recordKey(kind, namespace, name))
	})
	if err != nil {
		return fmt.Errorf("writing the state file: %w", err)
	}
	return nil
}

// Pruned is what State.Prune deleted.
type Pruned struct {
	// Records of objects no longer in the manifests.
	Records []ObjectRef
	// Tags are the TagStore keys (namespace/name) of ImageRepositories no
	// longer in the manifests.
	Tags []string
}

// Prune deletes what the file keeps about objects that are not in keep:
// their records, and the stored tags of ImageRepositories, so the file
// describes the objects of the manifests last loaded.
//
// Only the records of objects read from paths are the caller's to forget
// (paths are the manifest files and directories it loaded, as given to
// manifest.Load): an object recorded from a file outside them belongs to
// another set of manifests sharing the file, and stays, with its stored
// tags. Nil paths make every record the caller's. Records of kinds other
// than the three the runner reconciles are left alone (a newer dockhand
// may write some), and so is the rest of the file (where the clone cache
// is). Stored tags that no ImageRepository record owns are deleted.
func (s *State) Prune(keep []ObjectRef, paths []string) (Pruned, error) {
	if s.tags == nil {
		return Pruned{}, errors.New("pruning the state file: opened read-only")
	}
	live := make(map[ObjectRef]bool, len(keep))
	for _, ref := range keep {
		live[ref] = true
	}
	ours := sourceWithin(paths)
	owned := map[string]bool{} // repositories whose records stay
	var out Pruned
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(objectsBucket)
		var dead [][]byte
		err := b.ForEach(func(k, v []byte) error {
			ref, ok := parseRecordKey(k)
			if !ok {
				return nil
			}
			if !live[ref] {
				var rec struct {
					Source string `json:"source"`
				}
				// A record that cannot be read is the caller's: nothing
				// else could use it either.
				if json.Unmarshal(v, &rec) != nil || ours(rec.Source) {
					dead = append(dead, slices.Clone(k))
					out.Records = append(out.Records, ref)
					return nil
				}
			}
			if ref.Kind == KindRepository {
				owned[nsName(ref.Namespace, ref.Name)] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		// bbolt forbids deleting while iterating.
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Pruned{}, fmt.Errorf("pruning the state file: %w", err)
	}
	for _, ref := range keep {
		if ref.Kind == KindRepository {
			owned[nsName(ref.Namespace, ref.Name)] = true // not recorded yet
		}
	}
	keys, err := s.tags.Keys()
	if err != nil {
		return out, fmt.Errorf("pruning the state file: %w", err)
	}
	var gone []string
	for _, k := range keys {
		if !owned[k] {
			gone = append(gone, k)
		}
	}
	if err := s.tags.DeleteMany(gone...); err != nil {
		return out, fmt.Errorf("pruning the state file: %w", err)
	}
	out.Tags = gone
	return out, nil
}

// sourceWithin returns whether a record's source ("file:line", or "file")
// lies in one of paths: one of them, or under one that is a directory.
// Relative paths are taken from the working directory. Nil paths hold
// every source.
func sourceWithin(paths []string) func(source string) bool {
	if paths == nil {
		return func(string) bool { return true }
	}
	roots := make([]string, 0, len(paths))
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			roots = append(roots, abs)
		}
	}
	return func(source string) bool {
		file := source
		if i := strings.LastIndexByte(source, ':'); i > 0 {
			if _, err := strconv.Atoi(source[i+1:]); err == nil {
				file = source[:i]
			}
		}
		if file == "" {
			return false // nothing says where it came from: keep it
		}
		abs, err := filepath.Abs(file)
		if err != nil {
			return false
		}
		for _, root := range roots {
			if abs == root || strings.HasPrefix(abs, root+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
}

// parseRecordKey is the inverse of recordKey for the runner's kinds; ok
// is false for any other key. Kinds, namespaces and names cannot contain
// a slash.
func parseRecordKey(k []byte) (ObjectRef, bool) {
	parts := strings.SplitN(string(k), "/", 3)
	if len(parts) != 3 {
		return ObjectRef{}, false
	}
	switch parts[0] {
	case KindRepository, KindPolicy, KindAutomation:
		return ObjectRef{Kind: parts[0], Namespace: parts[1], Name: parts[2]}, true
	}
	return ObjectRef{}, false
}

// CacheDir returns the clone cache directory recorded in the file, "" when
// none is.
func (s *State) CacheDir() (string, error) {
	var dir string
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(runnerBucket); b != nil {
			dir = string(b.Get(cacheDirKey))
		}
		return nil
	})
	return dir, err
}

// SetCacheDir records the clone cache directory.
func (s *State) SetCacheDir(dir string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(runnerBucket).Put(cacheDirKey, []byte(dir))
	})
}

// CopyTo writes a consistent copy of the file to path (for a dry run,
// which works on a copy and throws it away).
func (s *State) CopyTo(path string) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.CopyFile(path, 0o600)
	})
	if err != nil {
		return fmt.Errorf("copying the state file: %w", err)
	}
	return nil
}

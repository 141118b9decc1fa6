package scanner

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// LatestTagsCount is how many tags a ScanResult samples in LatestTags.
const LatestTagsCount = 10

// Bucket names inside the bbolt file. Other packages may keep their own
// buckets in the same file (the runner keeps object status there).
var (
	tagsBucket = []byte("dockhand.tags.v1")
	metaBucket = []byte("dockhand.tagmeta.v1")
)

// Stored blobs start with one format byte.
const (
	blobPlain    byte = 0
	blobDeflated byte = 1
)

// Lists whose joined size is below this are stored uncompressed: flate costs
// more than it saves on a handful of tags.
const compressAbove = 4 << 10

// ErrNoTags is returned by TagStore.Tags when nothing was stored for a key.
var ErrNoTags = errors.New("no tags stored")

// ScanResult summarises one stored tag list, small enough for an object's
// status however many tags the repository has.
type ScanResult struct {
	// TagCount is the number of distinct tags stored.
	TagCount int `json:"tagCount"`
	// ScanTime is when the scan that produced the list finished.
	ScanTime time.Time `json:"scanTime"`
	// Revision is "sha256:" and the hex digest of the sorted tags, each
	// followed by a newline. It changes exactly when the set of tags changes.
	Revision string `json:"revision"`
	// LatestTags holds up to LatestTagsCount tags, the first ones in
	// descending byte order (the same sample Flux reports).
	LatestTags []string `json:"latestTags,omitempty"`
}

// TagStore keeps the tag list of each scanned repository in a bbolt file,
// one entry per key. Callers key entries by the object that owns the scan
// (namespace/name), never by image, so two objects scanning the same image
// with different credentials never see each other's tags.
//
// A TagStore is safe for concurrent use. Concurrent Puts are coalesced into
// shared transactions (bbolt's Batch), so a thousand scans finishing at once
// cost a few disk syncs, not a thousand.
type TagStore struct {
	db      *bolt.DB
	closer  io.Closer // set when the store opened the file itself
	writers sync.Pool // of *flate.Writer: each costs about a megabyte to make
}

// OpenTagStore opens (creating if needed) the bbolt file at path. It waits
// at most five seconds for another process holding the file to let go.
func OpenTagStore(path string) (*TagStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening tag store %s: %w", path, err)
	}
	s, err := NewTagStore(db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.closer = db
	return s, nil
}

// NewTagStore uses an already open bbolt database, creating the store's
// buckets if they are missing. Close does not close db.
func NewTagStore(db *bolt.DB) (*TagStore, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{tagsBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating tag store buckets: %w", err)
	}
	return &TagStore{db: db}, nil
}

// Close closes the file if OpenTagStore opened it.
func (s *TagStore) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// Put replaces the tags stored under key and returns the summary. The input
// slice is not modified; duplicates are dropped. When the set of tags is
// unchanged only the scan time is rewritten.
func (s *TagStore) Put(key string, tags []string, scanTime time.Time) (ScanResult, error) {
	sorted := slices.Clone(tags)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)

	joined := joinTags(sorted)
	sum := sha256.Sum256(joined)
	res := ScanResult{
		TagCount:   len(sorted),
		ScanTime:   scanTime.UTC(),
		Revision:   "sha256:" + hex.EncodeToString(sum[:]),
		LatestTags: latestTags(sorted),
	}
	meta, err := json.Marshal(res)
	if err != nil {
		return ScanResult{}, fmt.Errorf("encoding scan result for %s: %w", key, err)
	}

	var blob []byte // built lazily: unchanged lists are not recompressed
	err = s.db.Batch(func(tx *bolt.Tx) error {
		mb := tx.Bucket(metaBucket)
		if old := mb.Get([]byte(key)); old != nil {
			var prev ScanResult
			if json.Unmarshal(old, &prev) == nil && prev.Revision == res.Revision &&
				tx.Bucket(tagsBucket).Get([]byte(key)) != nil {
				return mb.Put([]byte(key), meta)
			}
		}
		if blob == nil {
			b, err := encodeBlob(joined, &s.writers)
			if err != nil {
				return err
			}
			blob = b
		}
		if err := tx.Bucket(tagsBucket).Put([]byte(key), blob); err != nil {
			return err
		}
		return mb.Put([]byte(key), meta)
	})
	if err != nil {
		return ScanResult{}, fmt.Errorf("storing %d tags for %s: %w", len(sorted), key, err)
	}
	return res, nil
}

// Tags returns the tags stored under key in ascending byte order, or an
// error wrapping ErrNoTags when there are none.
func (s *TagStore) Tags(key string) ([]string, error) {
	var joined []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		blob := tx.Bucket(tagsBucket).Get([]byte(key))
		if blob == nil {
			return fmt.Errorf("%w for %s", ErrNoTags, key)
		}
		var err error
		joined, err = decodeBlob(blob) // copies out of the mmap
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading tags for %s: %w", key, err)
	}
	return splitTags(joined), nil
}

// Result returns the summary stored under key; ok is false when there is none.
func (s *TagStore) Result(key string) (res ScanResult, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(metaBucket).Get([]byte(key))
		if raw == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(raw, &res)
	})
	if err != nil {
		return ScanResult{}, false, fmt.Errorf("reading scan result for %s: %w", key, err)
	}
	return res, ok, nil
}

// Delete removes everything stored under key. Deleting a missing key is not
// an error.
func (s *TagStore) Delete(key string) error {
	return s.DeleteMany(key)
}

// DeleteMany removes the tags stored under each key in one transaction:
// one write to disk however many keys there are. A key with no tags is
// not an error.
func (s *TagStore) DeleteMany(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, key := range keys {
			if err := tx.Bucket(tagsBucket).Delete([]byte(key)); err != nil {
				return err
			}
			if err := tx.Bucket(metaBucket).Delete([]byte(key)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if len(keys) == 1 {
			return fmt.Errorf("deleting tags for %s: %w", keys[0], err)
		}
		return fmt.Errorf("deleting tags for %d repositories: %w", len(keys), err)
	}
	return nil
}

// Keys lists every key with stored tags, in byte order.
func (s *TagStore) Keys() ([]string, error) {
	var keys []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing tag store keys: %w", err)
	}
	return keys, nil
}

// joinTags writes each tag followed by a newline. Tags cannot contain
// newlines (the distribution spec limits them to [A-Za-z0-9_.-]).
func joinTags(sorted []string) []byte {
	n := 0
	for _, t := range sorted {
		n += len(t) + 1
	}
	buf := make([]byte, 0, n)
	for _, t := range sorted {
		buf = append(buf, t...)
		buf = append(buf, '\n')
	}
	return buf
}

// splitTags is the inverse of joinTags. The tags share one backing string,
// so reading 100k tags costs two allocations, not 100k.
func splitTags(joined []byte) []string {
	if len(joined) == 0 {
		return []string{}
	}
	all := string(joined)
	tags := make([]string, 0, strings.Count(all, "\n"))
	for len(all) > 0 {
		i := strings.IndexByte(all, '\n')
		if i < 0 {
			tags = append(tags, all)
			break
		}
		tags = append(tags, all[:i])
		all = all[i+1:]
	}
	return tags
}

func latestTags(sorted []string) []string {
	n := min(LatestTagsCount, len(sorted))
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := len(sorted) - 1; i >= len(sorted)-n; i-- {
		out = append(out, sorted[i])
	}
	return out
}

// encodeBlob stores small lists as they are and deflates large ones. The
// uncompressed length follows the format byte so decoding allocates once.
// Flate writers come from and go back to writers.
func encodeBlob(joined []byte, writers *sync.Pool) ([]byte, error) {
	if len(joined) < compressAbove {
		return append([]byte{blobPlain}, joined...), nil
	}
	var buf bytes.Buffer
	buf.Grow(len(joined)/4 + 16)
	buf.WriteByte(blobDeflated)
	var n [binary.MaxVarintLen64]byte
	buf.Write(n[:binary.PutUvarint(n[:], uint64(len(joined)))])
	// A flate writer costs about a megabyte to make: reuse them, or a
	// thousand scans finishing together churn a gigabyte of garbage.
	w, _ := writers.Get().(*flate.Writer)
	if w == nil {
		var err error
		if w, err = flate.NewWriter(&buf, flate.BestSpeed); err != nil {
			return nil, fmt.Errorf("compressing tags: %w", err)
		}
	} else {
		w.Reset(&buf)
	}
	defer writers.Put(w)
	if _, err := w.Write(joined); err != nil {
		return nil, fmt.Errorf("compressing tags: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compressing tags: %w", err)
	}
	return buf.Bytes(), nil
}

// maxStoredBytes bounds the decoded size we trust from a stored length
// prefix (a corrupt prefix must not make us allocate gigabytes).
const maxStoredBytes = 1 << 30

func decodeBlob(blob []byte) ([]byte, error) {
	if len(blob) == 0 {
		return nil, errors.New("corrupt tag blob: empty")
	}
	switch blob[0] {
	case blobPlain:
		return bytes.Clone(blob[1:]), nil
	case blobDeflated:
		size, n := binary.Uvarint(blob[1:])
		if n <= 0 || size > maxStoredBytes {
			return nil, errors.New("corrupt tag blob: bad length")
		}
		out := make([]byte, size)
		r := flate.NewReader(bytes.NewReader(blob[1+n:]))
		if _, err := io.ReadFull(r, out); err != nil {
			return nil, fmt.Errorf("corrupt tag blob: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("corrupt tag blob: unknown format %d", blob[0])
	}
}

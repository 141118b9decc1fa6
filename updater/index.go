package updater

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Index remembers, per file, what a run saw, so that the next run reads
// only what changed (see WithIndex and WithChangedPaths). Callers persist
// it with MarshalBinary (compact) or MarshalJSON (readable) next to their
// git checkout, and should persist it only once the working tree it
// describes is kept (committed and pushed, say). Paths are slash-separated
// and relative to the root. Keep one index per root, update path and
// default namespace. An Index is not safe for concurrent use.
type Index struct {
	entries map[string]IndexEntry
	// marked holds the paths whose entries have HasMarkers, so that a warm
	// run need not look at every entry.
	marked map[string]struct{}
	// applied maps each policy ("ns/name") to the reference the last run
	// applied.
	applied map[string]Ref
	// namespace is the default namespace of the last run.
	namespace string
}

// IndexEntry is what the index knows about one file.
type IndexEntry struct {
	// BlobHash is the git blob object ID (SHA-1, hex) of the content last
	// read or written. Empty means unknown: such a file is read again on
	// the next run (files that failed to parse are recorded so).
	BlobHash string `json:"blob,omitempty"`
	// HasMarkers is set when the content contains the marker text.
	HasMarkers bool `json:"markers,omitempty"`
	// Policies lists the policies ("ns/name") that the file's markers
	// name, sorted.
	Policies []string `json:"policies,omitempty"`
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{entries: make(map[string]IndexEntry), marked: make(map[string]struct{}), applied: make(map[string]Ref)}
}

func (x *Index) init() {
	if x.entries == nil {
		x.entries = make(map[string]IndexEntry)
	}
	if x.marked == nil {
		x.marked = make(map[string]struct{})
	}
	if x.applied == nil {
		x.applied = make(map[string]Ref)
	}
}

// Len returns the number of files in the index.
func (x *Index) Len() int { return len(x.entries) }

// Get returns the entry of a path.
func (x *Index) Get(path string) (IndexEntry, bool) {
	e, ok := x.entries[path]
	return e, ok
}

// Set records the entry of a path.
func (x *Index) Set(path string, e IndexEntry) {
	x.init()
	x.entries[path] = e
	if e.HasMarkers {
		x.marked[path] = struct{}{}
	} else {
		delete(x.marked, path)
	}
}

// Delete forgets a path.
func (x *Index) Delete(path string) {
	delete(x.entries, path)
	delete(x.marked, path)
}

// Paths returns the indexed paths, sorted.
func (x *Index) Paths() []string { return slices.Sorted(maps.Keys(x.entries)) }

// Marked returns the paths of files that contain the marker text, sorted.
func (x *Index) Marked() []string {
	return slices.Sorted(maps.Keys(x.marked))
}

// BlobHash returns the git blob object ID (SHA-1, hex) of content, the
// hash "git hash-object" prints.
func BlobHash(content []byte) string {
	h := sha1.New()
	h.Write([]byte("blob " + strconv.Itoa(len(content)) + "\x00"))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

const indexMagic = "dockhand-updater-index\x00\x01"

// MarshalBinary encodes the index compactly and deterministically.
func (x *Index) MarshalBinary() ([]byte, error) {
	size := len(indexMagic) + len(x.namespace) + 8
	for p, r := range x.applied {
		size += len(p) + len(r.Name) + len(r.Tag) + len(r.Digest) + 8
	}
	for p, e := range x.entries {
		size += len(p) + sha1.Size + 8
		for _, pol := range e.Policies {
			size += len(pol) + 2
		}
	}
	b := make([]byte, 0, size)
	b = append(b, indexMagic...)
	b = appendString(b, x.namespace)
	b = binary.AppendUvarint(b, uint64(len(x.applied)))
	for _, p := range slices.Sorted(maps.Keys(x.applied)) {
		r := x.applied[p]
		b = appendString(b, p)
		b = appendString(b, r.Name)
		b = appendString(b, r.Tag)
		b = appendString(b, r.Digest)
	}
	b = binary.AppendUvarint(b, uint64(len(x.entries)))
	for _, p := range slices.Sorted(maps.Keys(x.entries)) {
		e := x.entries[p]
		b = appendString(b, p)
		if raw, ok := decodeSHA1(e.BlobHash); ok {
			b = append(b, 1)
			b = append(b, raw[:]...)
		} else {
			b = append(b, 0)
			b = appendString(b, e.BlobHash)
		}
		var flags byte
		if e.HasMarkers {
			flags |= 1
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(e.Policies)))
		for _, pol := range e.Policies {
			b = appendString(b, pol)
		}
	}
	return b, nil
}

// decodeSHA1 decodes a lower-case hex SHA-1 without allocating.
func decodeSHA1(s string) (raw [sha1.Size]byte, ok bool) {
	if len(s) != 2*sha1.Size {
		return raw, false
	}
	for i := range raw {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return raw, false
		}
		raw[i] = hi<<4 | lo
	}
	return raw, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorruptIndex = errors.New("corrupt index")

type indexReader struct {
	b   []byte
	err error
}

func (r *indexReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorruptIndex
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *indexReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errCorruptIndex
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *indexReader) string() string { return string(r.bytes(r.uvarint())) }

func (r *indexReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) { // every item takes at least a byte
		r.err = errCorruptIndex
		return 0
	}
	return int(n)
}

// UnmarshalBinary decodes what MarshalBinary encoded, replacing x's content.
func (x *Index) UnmarshalBinary(data []byte) error {
	if !strings.HasPrefix(string(data), indexMagic) {
		return fmt.Errorf("decoding updater index: %w: unknown format", errCorruptIndex)
	}
	r := &indexReader{b: data[len(indexMagic):]}
	n := NewIndex()
	n.namespace = r.string()
	for i, c := 0, r.count(); i < c && r.err == nil; i++ {
		p := r.string()
		n.applied[p] = Ref{Name: r.string(), Tag: r.string(), Digest: r.string()}
	}
	c := r.count()
	n.entries = make(map[string]IndexEntry, c)
	for i := 0; i < c && r.err == nil; i++ {
		p := r.string()
		var e IndexEntry
		switch kind := r.bytes(1); {
		case r.err != nil:
		case kind[0] == 1:
			e.BlobHash = hex.EncodeToString(r.bytes(sha1.Size))
		case kind[0] == 0:
			e.BlobHash = r.string()
		default:
			r.err = errCorruptIndex
		}
		if flags := r.bytes(1); r.err == nil {
			e.HasMarkers = flags[0]&1 != 0
		}
		if pc := r.count(); pc > 0 {
			e.Policies = make([]string, pc)
			for j := range e.Policies {
				e.Policies[j] = r.string()
			}
		}
		n.Set(p, e)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorruptIndex
	}
	if r.err != nil {
		return fmt.Errorf("decoding updater index: %w", r.err)
	}
	*x = *n
	return nil
}

type indexJSON struct {
	Namespace string                `json:"namespace,omitempty"`
	Applied   map[string]Ref        `json:"applied,omitempty"`
	Files     map[string]IndexEntry `json:"files"`
}

// MarshalJSON encodes the index as JSON.
func (x *Index) MarshalJSON() ([]byte, error) {
	return json.Marshal(indexJSON{Namespace: x.namespace, Applied: x.applied, Files: x.entries})
}

// UnmarshalJSON decodes what MarshalJSON encoded, replacing x's content.
func (x *Index) UnmarshalJSON(data []byte) error {
	var v indexJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("decoding updater index: %w", err)
	}
	n := NewIndex()
	n.namespace = v.Namespace
	maps.Copy(n.applied, v.Applied)
	for p, e := range v.Files {
		n.Set(p, e)
	}
	*x = *n
	return nil
}

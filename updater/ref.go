package updater

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Ref is the latest reference of an image policy, as an ImagePolicy's
// status.latestRef holds it.
type Ref struct {
	// Name is the image name without tag or digest, e.g. "ghcr.io/org/app".
	Name string `json:"name"`
	// Tag is the selected tag, e.g. "1.2.3".
	Tag string `json:"tag,omitempty"`
	// Digest is the reflected digest, e.g. "sha256:…"; empty unless the
	// policy reflects digests.
	Digest string `json:"digest,omitempty"`
}

// String returns the whole reference: name:tag, name:tag@digest when the
// digest is set (digest pinning), or name@digest without a tag.
func (r Ref) String() string {
	var b strings.Builder
	b.Grow(len(r.Name) + len(r.Tag) + len(r.Digest) + 2)
	b.WriteString(r.Name)
	if r.Tag != "" {
		b.WriteByte(':')
		b.WriteString(r.Tag)
	}
	if r.Digest != "" {
		b.WriteByte('@')
		b.WriteString(r.Digest)
	}
	return b.String()
}

// value returns what a marker setting f writes, and false when the
// reference lacks that part.
func (r Ref) value(f Field) (string, bool) {
	switch f {
	case FieldName:
		return r.Name, r.Name != ""
	case FieldTag:
		return r.Tag, r.Tag != ""
	case FieldDigest:
		return r.Digest, r.Digest != ""
	default:
		return r.String(), r.Name != "" && (r.Tag != "" || r.Digest != "")
	}
}

func (r Ref) validate() error {
	switch {
	case r.Name == "":
		return fmt.Errorf("empty image name")
	case r.Tag == "" && r.Digest == "":
		return fmt.Errorf("neither tag nor digest")
	case strings.ContainsAny(r.Name+r.Tag+r.Digest, " \t\r\n"):
		return fmt.Errorf("whitespace in %q", r.String())
	case !utf8.ValidString(r.Name + r.Tag + r.Digest):
		return fmt.Errorf("invalid UTF-8 in %q", r.String())
	}
	return nil
}

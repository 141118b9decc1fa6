package updater

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MarkerKey is the JSON key of a setter marker comment. Files whose bytes do
// not contain it are never parsed.
const MarkerKey = "$imagepolicy"

var markerKeyBytes = []byte(MarkerKey)

// Field is the part of a policy's latest reference that a marker sets.
type Field int

const (
	// FieldImage sets the whole reference: name:tag, or name:tag@digest
	// when the policy reflects a digest.
	FieldImage Field = iota
	// FieldName sets the image name (repository) only.
	FieldName
	// FieldTag sets the tag only.
	FieldTag
	// FieldDigest sets the digest only.
	FieldDigest
)

// String returns the marker suffix for f ("" for the whole reference).
func (f Field) String() string {
	switch f {
	case FieldName:
		return "name"
	case FieldTag:
		return "tag"
	case FieldDigest:
		return "digest"
	default:
		return ""
	}
}

// Marker is a parsed setter marker such as {"$imagepolicy": "apps:web:tag"}.
type Marker struct {
	// Namespace of the policy; empty when the marker does not name one, in
	// which case the automation's own namespace applies.
	Namespace string
	// Name of the policy.
	Name string
	// Field is the part of the reference the marker sets.
	Field Field
}

// Policy returns the "namespace/name" key of the marker's policy, using
// defaultNamespace when the marker names none.
func (m Marker) Policy(defaultNamespace string) string {
	ns := m.Namespace
	if ns == "" {
		ns = defaultNamespace
	}
	return ns + "/" + m.Name
}

// Setter returns the setter name in Flux's form, "namespace:name" with a
// ":tag", ":name" or ":digest" suffix for a partial setter. It is what
// Change.Setter holds.
func (m Marker) Setter(defaultNamespace string) string {
	ns := m.Namespace
	if ns == "" {
		ns = defaultNamespace
	}
	s := ns + ":" + m.Name
	if m.Field != FieldImage {
		s += ":" + m.Field.String()
	}
	return s
}

// ErrNoMarker is returned by ParseMarker for a comment that does not
// mention the marker key at all.
var ErrNoMarker = errors.New("no setter marker")

// ParseMarker parses a YAML line comment, with or without its leading '#',
// as a setter marker. The comment must be a JSON object (Flux's form) whose
// "$imagepolicy" member is a string:
//
//	NAMESPACE:NAME            the whole reference
//	NAMESPACE:NAME:SUFFIX     one part: SUFFIX is tag, name or digest
//	NAME                      the whole reference, automation's namespace
//	:NAME[:SUFFIX]            the same, explicitly
//
// Two parts are always NAMESPACE:NAME, as in Flux, never NAME:SUFFIX.
// ParseMarker returns ErrNoMarker when the comment does not contain the
// marker key, and another error when it does but is malformed.
func ParseMarker(comment string) (Marker, error) {
	if !strings.Contains(comment, MarkerKey) {
		return Marker{}, ErrNoMarker
	}
	text := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(comment), "#"))
	if ref, ok := simpleMarker(text); ok {
		return parseMarkerRef(ref)
	}
	if !strings.HasPrefix(text, "{") {
		return Marker{}, fmt.Errorf("marker comment is not a JSON object: %q", text)
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&obj); err != nil {
		return Marker{}, fmt.Errorf("marker comment is not valid JSON: %w", err)
	}
	if dec.More() || dec.InputOffset() != int64(len(text)) {
		return Marker{}, fmt.Errorf("text after the marker's JSON object: %q", text[dec.InputOffset():])
	}
	raw, ok := obj[MarkerKey]
	if !ok {
		return Marker{}, fmt.Errorf("marker comment has no %q member", MarkerKey)
	}
	var ref string
	if err := json.Unmarshal(raw, &ref); err != nil {
		return Marker{}, fmt.Errorf("%q must be a string, not %s", MarkerKey, bytes.TrimSpace(raw))
	}
	return parseMarkerRef(ref)
}

// simpleMarker reads the usual form, {"$imagepolicy": "VALUE"} with any
// blanks and a VALUE without escapes, without a JSON decoder; it returns
// false for anything else, which ParseMarker then decodes as JSON.
func simpleMarker(text string) (string, bool) {
	const key = `"` + MarkerKey + `"`
	t, ok := strings.CutPrefix(text, "{")
	if !ok {
		return "", false
	}
	if t, ok = strings.CutPrefix(strings.TrimLeft(t, " \t"), key); !ok {
		return "", false
	}
	if t, ok = strings.CutPrefix(strings.TrimLeft(t, " \t"), ":"); !ok {
		return "", false
	}
	if t, ok = strings.CutPrefix(strings.TrimLeft(t, " \t"), `"`); !ok {
		return "", false
	}
	end := strings.IndexByte(t, '"')
	if end < 0 {
		return "", false
	}
	value := t[:end]
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	if strings.TrimLeft(t[end+1:], " \t") != "}" {
		return "", false
	}
	return value, true
}

func parseMarkerRef(ref string) (Marker, error) {
	parts := strings.Split(ref, ":")
	var m Marker
	switch len(parts) {
	case 1:
		m.Name = parts[0]
	case 2:
		m.Namespace, m.Name = parts[0], parts[1]
	case 3:
		m.Namespace, m.Name = parts[0], parts[1]
		switch parts[2] {
		case "tag":
			m.Field = FieldTag
		case "name":
			m.Field = FieldName
		case "digest":
			m.Field = FieldDigest
		default:
			return Marker{}, fmt.Errorf("unknown marker suffix %q in %q (want tag, name or digest)", parts[2], ref)
		}
	default:
		return Marker{}, fmt.Errorf("marker %q has too many parts (want NAMESPACE:NAME[:SUFFIX])", ref)
	}
	if m.Name == "" {
		return Marker{}, fmt.Errorf("marker %q names no policy", ref)
	}
	if !validName(m.Name) || (m.Namespace != "" && !validName(m.Namespace)) {
		return Marker{}, fmt.Errorf("marker %q: namespace and name must be Kubernetes object names", ref)
	}
	return m, nil
}

// validName accepts the characters of Kubernetes object names (DNS
// subdomains), loosely: lower-case letters, digits, '-' and '.'.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

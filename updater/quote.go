package updater

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Plain scalars that YAML 1.1 or 1.2 readers resolve to something other
// than a string. A new value matching one of these is written quoted, so
// that "1.10" stays the string "1.10" for every reader (Kubernetes' own
// YAML library still follows 1.1, where yes, on and 0755 are not strings).
var nonStringPlain = regexp.MustCompile(`^(?:` +
	// null and booleans, 1.1 and 1.2
	`~|null|Null|NULL|` +
	`y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|` +
	// integers: decimal, octal, hex, binary, with 1.1's underscores
	`[-+]?[0-9][0-9_]*|[-+]?0[oO][0-7_]+|[-+]?0[xX][0-9a-fA-F_]+|[-+]?0[bB][01_]+|` +
	// 1.1 base 60
	`[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|` +
	// floats
	`[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|` +
	`[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|` +
	// timestamps (dates and date-times)
	`[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?|` +
	// 1.1 merge and value keys
	`<<|=` +
	`)$`)

// needsQuotes reports whether s, written as a plain scalar, would not read
// back as the string s: because it resolves to another type, or contains
// characters that end or change a plain scalar. In a flow collection the
// flow indicators count too.
func needsQuotes(s string, flow bool) bool {
	if s == "" || nonStringPlain.MatchString(s) {
		return true
	}
	if strings.IndexByte("-+.0123456789", s[0]) >= 0 {
		// Whatever Go's number parsers accept ("+inf", "0x1p-2", ...),
		// a YAML library written in Go may take for a number.
		n := strings.ReplaceAll(s, "_", "")
		if _, err := strconv.ParseFloat(n, 64); err == nil {
			return true
		}
		if _, err := strconv.ParseInt(n, 0, 64); err == nil {
			return true
		}
	}
	switch s[0] {
	case '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ', '\t':
		return true
	}
	if last := s[len(s)-1]; last == ' ' || last == '\t' || last == ':' {
		return true
	}
	for _, seq := range [...]string{": ", ":\t", " #", "\t#"} {
		if strings.Contains(s, seq) {
			return true
		}
	}
	if flow && strings.ContainsAny(s, ",[]{}?") {
		return true
	}
	for _, r := range s {
		if needsEscape(r) {
			return true
		}
	}
	return false
}

// needsEscape reports whether r must be escaped in a double-quoted scalar:
// it is not a YAML printable character, or it is a line break for YAML
// 1.1 readers (NEL, LS, PS), or a byte order mark.
func needsEscape(r rune) bool {
	switch {
	case r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff || r == utf8.RuneError:
		return true
	case r == '\t':
		return false
	case r < 0x20 || r >= 0x7f && r < 0xa0:
		return true
	case r >= 0xd800 && r <= 0xdfff, r == 0xfffe, r == 0xffff:
		return true
	}
	return false
}

// plainToken returns s as a plain scalar, or double-quoted when it would
// not read back as the same string.
func plainToken(s string, flow bool) string {
	if needsQuotes(s, flow) {
		return doubleQuoted(s)
	}
	return s
}

// singleQuoted returns s in single quotes, or in double quotes when s has
// characters single quotes cannot carry on one line.
func singleQuoted(s string) string {
	for _, r := range s {
		if r == '\t' || needsEscape(r) {
			return doubleQuoted(s)
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// doubleQuoted returns s in double quotes with YAML escapes.
func doubleQuoted(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i]), 16))
			i++
			continue
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == 0x85:
			b.WriteString(`\N`)
		case r == 0x2028:
			b.WriteString(`\L`)
		case r == 0x2029:
			b.WriteString(`\P`)
		case needsEscape(r):
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

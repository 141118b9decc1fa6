package updater

import (
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
	`[-+]?(?:0|[1-9][0-9_]*)|[-+]?0[0-7_]+|[-+]?0o[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?0b[01_]+|` +
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
	switch s[0] {
	case '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ':
		return true
	}
	if s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return true
	}
	if strings.Contains(s, ": ") || strings.Contains(s, " #") {
		return true
	}
	if flow && strings.ContainsAny(s, ",[]{}") {
		return true
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff || r == utf8.RuneError {
			return true
		}
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
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff || r == utf8.RuneError {
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
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			if r < 0x10 {
				b.WriteByte('0')
			}
			b.WriteString(strconv.FormatUint(uint64(r), 16))
		case r == 0x85:
			b.WriteString(`\N`)
		case r == 0x2028:
			b.WriteString(`\L`)
		case r == 0x2029:
			b.WriteString(`\P`)
		case r == 0xfeff:
			b.WriteString(`\ufeff`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

package policy

import "strings"

// maxVersionLen is the longest tag that counts as a semantic version. It is
// Masterminds/semver's limit (semver.MaxVersionLen), which Flux inherits: a
// longer tag is not a version, whatever it looks like.
const maxVersionLen = 256

// version is a parsed semantic version. pre and meta are substrings of the
// text it was parsed from, so parsing never allocates.
type version struct {
	major, minor, patch uint64
	pre                 string // pre-release, without the '-'
	meta                string // build metadata, without the '+'
}

// parseVersion parses s as Flux does: one leading "v" is dropped and the rest
// must be a strict semantic version (semver.org 2.0.0: three numbers without
// leading zeros, then an optional pre-release and build metadata made of
// non-empty dot-separated [0-9A-Za-z-] identifiers, numeric pre-release
// identifiers without leading zeros). It accepts exactly what
// semver.StrictNewVersion accepts after that "v" is removed. It fills in v,
// which is left partly written when s is not a version.
func parseVersion(s string, v *version) bool {
	if len(s) == 0 || len(s) > maxVersionLen {
		return false
	}
	i := 0
	if s[0] == 'v' {
		i = 1
	}
	var ok bool
	if v.major, i, ok = versionNumber(s, i); !ok || i == len(s) || s[i] != '.' {
		return false
	}
	if v.minor, i, ok = versionNumber(s, i+1); !ok || i == len(s) || s[i] != '.' {
		return false
	}
	if v.patch, i, ok = versionNumber(s, i+1); !ok {
		return false
	}
	v.pre, v.meta = "", ""
	if i == len(s) {
		return true
	}
	rest := s[i:]
	if rest[0] == '-' {
		end := strings.IndexByte(rest, '+')
		if end < 0 {
			end = len(rest)
		}
		v.pre, rest = rest[1:end], rest[end:]
		if !validIdentifiers(v.pre, true) {
			return false
		}
	}
	if len(rest) > 0 && rest[0] == '+' {
		v.meta, rest = rest[1:], ""
		if !validIdentifiers(v.meta, false) {
			return false
		}
	}
	return len(rest) == 0
}

// versionNumber reads the decimal number at s[i:]: at least one digit, no
// leading zero, no overflow of uint64. It returns the index after it.
func versionNumber(s string, i int) (uint64, int, bool) {
	var n uint64
	j := i
	for ; j < len(s); j++ {
		d := s[j] - '0'
		if d > 9 {
			break
		}
		n = n*10 + uint64(d)
	}
	switch digits := j - i; {
	case digits == 0, digits > 1 && s[i] == '0':
		return 0, j, false
	case digits > 19: // may have overflowed
		var ok bool
		n, ok = parseUint(s[i:j])
		return n, j, ok
	}
	return n, j, true
}

// parseUint parses a non-empty string of decimal digits (leading zeros
// allowed) that fits in a uint64, as strconv.ParseUint(s, 10, 64) does
// without error.
func parseUint(s string) (uint64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, false
		}
		if n > (1<<64-1)/10 {
			return 0, false
		}
		n *= 10
		d := uint64(c - '0')
		if n+d < n {
			return 0, false
		}
		n += d
	}
	return n, true
}

// validIdentifiers reports whether s is a non-empty list of dot-separated,
// non-empty identifiers of [0-9A-Za-z-]. With numeric set, an identifier of
// digits only must not have a leading zero (the pre-release rule).
func validIdentifiers(s string, numeric bool) bool {
	start := 0
	digitsOnly := true
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			n := i - start
			if n == 0 {
				return false
			}
			if numeric && digitsOnly && n > 1 && s[start] == '0' {
				return false
			}
			start, digitsOnly = i+1, true
			continue
		}
		c := s[i]
		switch {
		case isDigit(c):
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
			digitsOnly = false
		default:
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// compareVersions orders versions by semver precedence, as
// (*semver.Version).Compare does: major, minor and patch numerically, then a
// version without pre-release above one with, then the pre-release
// identifiers. Build metadata is ignored.
func compareVersions(a, b *version) int {
	if c := compareUint(a.major, b.major); c != 0 {
		return c
	}
	if c := compareUint(a.minor, b.minor); c != 0 {
		return c
	}
	if c := compareUint(a.patch, b.patch); c != 0 {
		return c
	}
	switch {
	case a.pre == "" && b.pre == "":
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	return comparePrerelease(a.pre, b.pre)
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// comparePrerelease compares two pre-release strings identifier by
// identifier, with Masterminds/semver's rules (which Flux's ordering
// follows): a missing identifier is lower than a present one, an identifier
// that parses as a uint64 is lower than one that does not, two numbers
// compare numerically and anything else compares byte-wise. A numeric
// identifier too large for a uint64 therefore compares as text.
func comparePrerelease(a, b string) int {
	for {
		var pa, pb string
		pa, a = cutDot(a)
		pb, b = cutDot(b)
		if c := comparePrePart(pa, pb); c != 0 {
			return c
		}
		if a == "" && b == "" {
			return 0
		}
	}
}

// cutDot splits s at its first dot. A string without a dot is all head; the
// tail is then "", like a missing identifier.
func cutDot(s string) (head, tail string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func comparePrePart(a, b string) int {
	if a == b {
		return 0
	}
	if a == "" {
		return -1
	}
	if b == "" {
		return 1
	}
	na, aNum := parseUint(a)
	nb, bNum := parseUint(b)
	switch {
	case aNum && bNum:
		return compareUint(na, nb)
	case aNum:
		return -1
	case bNum:
		return 1
	}
	return strings.Compare(a, b)
}

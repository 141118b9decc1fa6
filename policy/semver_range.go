package policy

import (
	"strings"

	"github.com/Masterminds/semver/v3"
)

// semverRange is a compiled Masterminds/semver constraint.
//
// Masterminds builds an error (with fmt) for every version a constraint
// rejects and needs a *semver.Version, which costs two allocations per tag.
// So the constraint is parsed by Masterminds, which decides what is valid,
// and then re-read from its canonical form (Constraints.String) into
// comparators that evaluate a version in place with exactly Masterminds'
// rules. TestRangeMatchesMasterminds and FuzzRange hold the two to the
// same answers. If the canonical form ever reads differently than expected,
// exact falls back to calling Masterminds for each tag.
type semverRange struct {
	text   string
	groups []andGroup // any group passing admits the version
	exact  *semver.Constraints
	// anyPre reports whether some group admits pre-releases at all; when
	// none does, a pre-release is rejected before any comparison.
	anyPre bool
	// slow is set when the comparators could not be built; check then asks
	// exact, allocating.
	slow bool
}

type andGroup struct {
	comparators []comparator
	includePre  bool // some comparator of the group has a pre-release
}

type opKind uint8

const (
	opTildeOrEqual opKind = iota // "", "="
	opNotEqual                   // "!="
	opGreater                    // ">"
	opLess                       // "<"
	opGreaterEqual               // ">=", "=>"
	opLessEqual                  // "<=", "=<"
	opTilde                      // "~", "~>"
	opCaret                      // "^"
)

var opKinds = map[string]opKind{
	"": opTildeOrEqual, "=": opTildeOrEqual,
	"!=": opNotEqual,
	">":  opGreater, "<": opLess,
	">=": opGreaterEqual, "=>": opGreaterEqual,
	"<=": opLessEqual, "=<": opLessEqual,
	"~": opTilde, "~>": opTilde,
	"^": opCaret,
}

// comparator is one constraint such as ">=1.2" or "~1.x". con is the version
// it compares against, with wildcard and missing parts as zero; the dirty
// flags record which parts were wildcards or missing.
type comparator struct {
	op         opKind
	con        version
	dirty      bool // some part was a wildcard or missing
	minorDirty bool // the minor part (and so the patch) was
	patchDirty bool // only the patch part was
}

// compileRange parses r with Masterminds/semver, returning its error for an
// invalid range.
func compileRange(r string) (*semverRange, error) {
	exact, err := semver.NewConstraint(r)
	if err != nil {
		return nil, err
	}
	sr := &semverRange{text: r, exact: exact}
	for _, g := range strings.Split(exact.String(), " || ") {
		var group andGroup
		for _, s := range strings.Fields(g) {
			c, ok := parseComparator(s)
			if !ok {
				return slowRange(sr), nil
			}
			group.comparators = append(group.comparators, c)
			group.includePre = group.includePre || c.con.pre != ""
		}
		if len(group.comparators) == 0 {
			return slowRange(sr), nil
		}
		sr.groups = append(sr.groups, group)
		sr.anyPre = sr.anyPre || group.includePre
	}
	return sr, nil
}

// slowRange makes r ask Masterminds for every version.
func slowRange(r *semverRange) *semverRange {
	r.groups, r.slow, r.anyPre = nil, true, true
	return r
}

// parseComparator reads one constraint of Masterminds' canonical form: an
// operator followed by a version in which any of the three numbers may be a
// wildcard (x, X, *) or missing. It derives the comparison version and the
// dirty flags as Masterminds' parser does.
func parseComparator(s string) (comparator, bool) {
	i := 0
	for i < len(s) && strings.IndexByte("=!<>~^", s[i]) >= 0 {
		i++
	}
	op, ok := opKinds[s[:i]]
	if !ok {
		return comparator{}, false
	}
	rest := strings.TrimPrefix(s[i:], "v")
	major, rest := wildcardPart(rest)
	var minor, patch string
	if strings.HasPrefix(rest, ".") {
		minor, rest = wildcardPart(rest[1:])
		if strings.HasPrefix(rest, ".") {
			patch, rest = wildcardPart(rest[1:])
		}
	}
	// Masterminds keeps the pre-release (with its '-') when it fills in
	// wildcards, and the build metadata only when nothing was filled in.
	pre, _, _ := strings.Cut(rest, "+")
	if pre != "" && pre[0] != '-' {
		return comparator{}, false
	}
	c := comparator{op: op}
	var text string
	switch {
	case major == "" || isWildcard(major):
		c.dirty = true
		text = "0.0.0" + pre
	case minor == "" || isWildcard(minor):
		c.dirty, c.minorDirty = true, true
		text = major + ".0.0" + pre
	case patch == "" || isWildcard(patch):
		c.dirty, c.patchDirty = true, true
		text = major + "." + minor + ".0" + pre
	default:
		text = s[i:]
	}
	// NewVersion, not StrictNewVersion: Masterminds reads constraint
	// versions leniently (leading zeros and a "v" are fine).
	v, err := semver.NewVersion(text)
	if err != nil {
		return comparator{}, false
	}
	c.con = version{major: v.Major(), minor: v.Minor(), patch: v.Patch(), pre: v.Prerelease()}
	return c, true
}

// wildcardPart splits off the leading run of characters Masterminds allows
// in a constraint's version number: digits, x, X, * (and '|', which its
// pattern admits too).
func wildcardPart(s string) (part, rest string) {
	i := 0
	for i < len(s) && (isDigit(s[i]) || strings.IndexByte("xX*|", s[i]) >= 0) {
		i++
	}
	return s[:i], s[i:]
}

func isWildcard(s string) bool { return s == "x" || s == "X" || s == "*" }

// check reports whether v satisfies the range, as
// (*semver.Constraints).Check does for the version v stands for.
func (r *semverRange) check(v *version) bool {
	if r.slow {
		return r.exact.Check(semver.New(v.major, v.minor, v.patch, v.pre, v.meta))
	}
	for gi := range r.groups {
		g := &r.groups[gi]
		if v.pre != "" && !g.includePre {
			continue
		}
		ok := true
		for ci := range g.comparators {
			if !g.comparators[ci].check(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// check applies one comparator, with the semantics of Masterminds' constraint
// functions. The group has already excluded pre-releases it does not admit.
func (c *comparator) check(v *version) bool {
	switch c.op {
	case opTildeOrEqual:
		if c.dirty {
			return c.tilde(v)
		}
		return compareVersions(v, &c.con) == 0
	case opNotEqual:
		return c.notEqual(v)
	case opGreater:
		return c.greater(v)
	case opLess:
		return compareVersions(v, &c.con) < 0
	case opGreaterEqual:
		return compareVersions(v, &c.con) >= 0
	case opLessEqual:
		return c.lessEqual(v)
	case opTilde:
		return c.tilde(v)
	case opCaret:
		return c.caret(v)
	}
	return false
}

// notEqual: with wildcards, "!=1.2.x" rejects every 1.2 version; without,
// only the equal version is rejected.
func (c *comparator) notEqual(v *version) bool {
	if c.dirty {
		switch {
		case c.con.major != v.major:
			return true
		case c.minorDirty:
			return false
		case c.con.minor != v.minor:
			return true
		case c.patchDirty:
			if v.pre != "" || c.con.pre != "" {
				return comparePrerelease(v.pre, c.con.pre) != 0
			}
			return false
		case c.con.patch != v.patch:
			return true
		}
	}
	return compareVersions(v, &c.con) != 0
}

// greater: ">1" means 2.0.0 and up, ">1.2" means 1.3.0 and up.
func (c *comparator) greater(v *version) bool {
	if c.dirty {
		switch {
		case v.major != c.con.major:
			return v.major > c.con.major
		case c.minorDirty:
			return false
		case c.patchDirty:
			return v.minor > c.con.minor
		}
	}
	return compareVersions(v, &c.con) > 0
}

// lessEqual: "<=1" admits all of 1.x, "<=1.2" all of 1.2.x.
func (c *comparator) lessEqual(v *version) bool {
	if !c.dirty {
		return compareVersions(v, &c.con) <= 0
	}
	if v.major != c.con.major {
		return v.major < c.con.major
	}
	return c.minorDirty || v.minor <= c.con.minor
}

// tilde: at least con, within the same minor (or the same major when the
// minor was a wildcard); "~0" with nothing dirty but major admits anything
// at or above it.
func (c *comparator) tilde(v *version) bool {
	if compareVersions(v, &c.con) < 0 {
		return false
	}
	if c.con.major == 0 && c.con.minor == 0 && c.con.patch == 0 && !c.minorDirty && !c.patchDirty {
		return true
	}
	if v.major != c.con.major {
		return false
	}
	return c.minorDirty || v.minor == c.con.minor
}

// caret: at least con, without changing the left-most non-zero part.
func (c *comparator) caret(v *version) bool {
	if compareVersions(v, &c.con) < 0 {
		return false
	}
	if c.con.major > 0 || c.minorDirty {
		return v.major == c.con.major
	}
	if v.major > 0 {
		return false
	}
	if c.con.minor > 0 || c.patchDirty {
		return v.minor == c.con.minor
	}
	if v.minor > 0 {
		return false
	}
	return v.patch == c.con.patch
}

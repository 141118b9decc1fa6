package policy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// These tests hold the package to the behaviour of the code it must agree
// with: Masterminds/semver for versions and ranges, the regexp package for
// patterns, and Flux's selection as a whole.

// fluxParseVersion is how Flux reads a tag as a version: one leading "v"
// dropped for a strict parse, then a lenient parse of the whole tag.
func fluxParseVersion(s string) (*semver.Version, error) {
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v")); err != nil {
		return nil, err
	}
	return semver.NewVersion(s)
}

// versionTexts is a spread of valid and nearly valid versions.
func versionTexts() []string {
	out := []string{
		"", "v", "1", "1.2", "1.2.3", "v1.2.3", "vv1.2.3", "V1.2.3", "01.2.3", "1.02.3", "1.2.03",
		"0.0.0", "1.2.3.4", "1.2.3-", "1.2.3+", "1.2.3-a", "1.2.3-a.", "1.2.3-.a", "1.2.3-a..b",
		"1.2.3-01", "1.2.3-0a", "1.2.3-a-b", "1.2.3-a+b", "1.2.3+a-b", "1.2.3+a+b", "1.2.3-a_b",
		"1.2.3+a_b", "1.2.3-é", "1.2.3 ", " 1.2.3", "1.2.3-0", "1.2.3-00", "1.2.3+00", "1..3",
		".1.2", "1.2.", "1.2.3-alpha.1+build.5", "18446744073709551615.0.0", "18446744073709551616.0.0",
		"1.2.3-18446744073709551616", "1.2.3-18446744073709551615", "-1.2.3", "+1.2.3", "1.-2.3",
		"1.2.-3", "1.2.3--", "1.2.3-+", "1.2.3-a.1.b.2", "v0.0.0-0", "1.2.3-alpha.beta",
		"1.2.3+build.1.2", "1.2.3-rc1", "1.2.3-x.7.z.92", "10.20.30",
	}
	out = append(out, "1.0.0+"+strings.Repeat("a", 250), "1.0.0+"+strings.Repeat("a", 251),
		"v1.0.0+"+strings.Repeat("a", 249), "v1.0.0+"+strings.Repeat("a", 250))
	return out
}

func TestParseVersionMatchesFlux(t *testing.T) {
	for _, s := range versionTexts() {
		got, ok := parse(s)
		want, err := fluxParseVersion(s)
		if ok != (err == nil) {
			t.Errorf("parseVersion(%q) ok = %v; Flux's parse error = %v", s, ok, err)
			continue
		}
		if !ok {
			continue
		}
		w := version{want.Major(), want.Minor(), want.Patch(), want.Prerelease(), want.Metadata()}
		if got != w {
			t.Errorf("parseVersion(%q) = %+v; want %+v", s, got, w)
		}
	}
}

// testVersions is a grid of versions around the numbers ranges use.
func testVersions() []string {
	var out []string
	nums := []string{"0", "1", "2", "3", "10"}
	pres := []string{"", "-0", "-1", "-alpha", "-alpha.1", "-beta", "-rc.2", "-rc.10"}
	for _, ma := range nums {
		for _, mi := range nums {
			for _, pa := range []string{"0", "1", "3"} {
				for _, pre := range pres {
					out = append(out, ma+"."+mi+"."+pa+pre)
				}
			}
		}
	}
	return out
}

// testRanges is a spread of constraints of every operator and shape.
func testRanges() []string {
	ops := []string{"", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"}
	vers := []string{"0", "1", "2", "x", "*", "0.0", "0.1", "1.2", "1.x", "2.X", "1.*", "0.0.0", "0.0.1",
		"0.1.0", "1.2.3", "1.2.x", "0.0.x", "v1.2.3", "1.2.3-0", "1.2.3-alpha", "1.x-0", "0-0", "2.1.0-rc.2",
		"1.2.3+meta", "x.1.2", "01.2.3"}
	var out []string
	for _, op := range ops {
		for _, v := range vers {
			out = append(out, op+v)
		}
	}
	out = append(out,
		">=1.0.0 <2.0.0", ">=1.0.0, <2.0.0", "1.2 - 2.3.4", "1.2.3-0 - 2", ">1 <3 || =0.1.0",
		"^1.2 || ^2.0.0-0", "~1.2.3 || >=3.0.0-rc.1", "!=1.2.3 >=1", ">= 1.2 , < 3.0.0", "  1.2.3  ",
		"*", "x", "x.x.x", ">=*", "<=1.x-alpha", ">2.x-0", "!=1.x-0", "!=1.2.x-rc.2", "!=1.2.x",
		"~0", "~0.0", "~0.0.0", "^0", "^0.0", "^0.0.0", "^0.x", "^0.0.x", "^0.1.x", "~0.x",
		">=0.0.0-0", "<0.0.0-0", "*.1|.2", ">=1.0.0-0 <1.0.0",
	)
	return out
}

func TestRangeMatchesMasterminds(t *testing.T) {
	versions := testVersions()
	for _, slow := range []bool{false, true} {
		checked := 0
		for i, rs := range testRanges() {
			if slow && i%8 != 0 {
				continue // the fallback only needs a sample
			}
			r, err := compileRange(rs)
			if err != nil {
				continue
			}
			if r.slow != slow {
				if !slow {
					t.Errorf("compileRange(%q) fell back to Masterminds for every version", rs)
				}
				r = slowRange(r)
			}
			for _, vs := range versions {
				v, _ := parse(vs)
				want := r.exact.Check(semver.MustParse(vs))
				if got := r.check(&v); got != want {
					t.Errorf("range %q (canonical %q, slow %v): check(%s) = %v; Masterminds says %v", rs, r.exact.String(), slow, vs, got, want)
				}
				checked++
			}
		}
		if !slow && checked < 50000 {
			t.Errorf("checked %d pairs; the grids shrank", checked)
		}
	}
}

func TestCompareVersionsMatchesMasterminds(t *testing.T) {
	vs := append(testVersions(), "1.2.3-18446744073709551616", "1.2.3-18446744073709551615", "1.2.3-a.b.c", "1.2.3-a.b", "1.2.3+x")
	for _, a := range vs {
		for _, b := range vs {
			va, _ := parse(a)
			vb, _ := parse(b)
			if got, want := compareVersions(&va, &vb), semver.MustParse(a).Compare(semver.MustParse(b)); got != want {
				t.Errorf("compareVersions(%s, %s) = %d; Masterminds says %d", a, b, got, want)
			}
		}
	}
}

// patternCases pair patterns with tags to match them against.
var patternCases = struct {
	patterns []string
	tags     []string
}{
	patterns: []string{
		`^main-[a-fA-F0-9]+-(?P<ts>.*)`, `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`, `main-[a-f0-9]+-(?P<ts>[0-9]+)`,
		`^v?(?P<v>[0-9]+\.[0-9]+\.[0-9]+)$`, `ver(\d+)`, `^ver`, ``, `$`, `^`, `a*`, `a+$`, `(a)(b)?`,
		`^(?i)rel-([a-z]+)$`, `^[^-]+-(\d{2,4})$`, `^\d{4}-\d{2}-\d{2}$`, `(\w+)-(\d+)`, `x?y?z?`,
		`.*`, `^(.*)Z$`, `a|b`, `(a|bc)+`, `\bword\b`, `(?m)^x$`, `^(?P<d>\d{8})-(?P<t>\d{4})`,
		`[[:alpha:]]+(\d*)`, `(?s).`, `\Arel\z`, `a{0}b`, `a{2}`, `^(a*)(b*)$`, `([0-9]+)\.([0-9]+)`,
		`^(?:rc|beta)\.(\d+)$`, `é(\d)`, `^.(\d)$`, `a*?b`, `K`, `(?i)k`, `(b*)^`, `a$b?`, `(^a)`,
	},
	tags: []string{
		"", "a", "b", "ab", "aab", "abc", "ver1", "xver22", "main-abc123-1611840548", "main-ABC-17",
		"main--1", "main-xyz-1", "v1.2.3", "1.2.3", "v1.2", "rel-abc", "REL-ABC", "rel-ab1", "foo-12",
		"foo-12345", "foo-1", "2024-01-02", "2024-1-02", "word", "a word here", "x", "x\ny", "RELEASE.2024Z",
		"Z", "bc", "abcbc", "20240101-1200-abc", "abc123", "rel", "rel\n", "aa", "aaa", "bbb", "12.34.56",
		"rc.1", "beta.22", "é1", "a2", "日3", "k", "K", "\u212a",
	},
}

func TestFastMatcherAgrees(t *testing.T) {
	fast := 0
	for _, p := range patternCases.patterns {
		m := newFastMatcher(p)
		if m == nil {
			continue
		}
		fast++
		re := regexp.MustCompile(p)
		for _, tag := range patternCases.tags {
			if !isASCII(tag) {
				continue
			}
			checkFastMatch(t, p, re, m, tag)
		}
	}
	if fast < 20 {
		t.Errorf("only %d of %d patterns take the fast path", fast, len(patternCases.patterns))
	}
	for _, p := range []string{`^main-[a-fA-F0-9]+-(?P<ts>.*)`, `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`, `^v?(?P<v>[0-9]+\.[0-9]+\.[0-9]+)$`} {
		if newFastMatcher(p) == nil {
			t.Errorf("newFastMatcher(%q) = nil; want the fast path", p)
		}
	}
	for _, p := range []string{`a|bc`, `^(.*)Z$`, `\bword\b`, `(?m)^x$`, `a*?b`, `(a)(b)?`, `é(\d)`, `(b*)^`} {
		if newFastMatcher(p) != nil {
			t.Errorf("newFastMatcher(%q) != nil; want the regexp package", p)
		}
	}
}

func checkFastMatch(t *testing.T, pattern string, re *regexp.Regexp, m *fastMatcher, tag string) {
	t.Helper()
	want := re.FindStringSubmatchIndex(tag)
	caps := make([]int, 2*(re.NumSubexp()+1))
	ok := m.match(tag, caps)
	if !ok {
		caps = nil
	}
	if !slices.Equal(caps, want) {
		t.Errorf("pattern %q on %q: fast match = %v; regexp = %v", pattern, tag, caps, want)
	}
}

// fluxSelect selects a tag as Flux's image-reflector-controller does, given
// tags in the order the registry lists them: the filter builds a map from
// value to the last tag with it, and the policy runs over the map's values,
// taken here in byte order (Flux's map order is random). It errors where
// Flux errors.
func fluxSelect(kind kind, arg, pattern, extract string, filter bool, tags []string) (string, error) {
	original := map[string]string{}
	if filter {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return "", err
		}
		for _, tag := range tags {
			if m := re.FindStringSubmatchIndex(tag); m != nil {
				value := tag
				if extract != "" {
					value = string(re.ExpandString(nil, extract, tag, m))
				}
				original[value] = tag
			}
		}
		tags = tags[:0:0]
		for v := range original {
			tags = append(tags, v)
		}
		sort.Strings(tags)
	}
	if len(tags) == 0 {
		return "", errors.New("version list argument cannot be empty")
	}
	var latest string
	switch kind {
	case kindSemVer:
		c, err := semver.NewConstraint(arg)
		if err != nil {
			return "", err
		}
		var best *semver.Version
		for _, tag := range tags {
			if v, err := fluxParseVersion(tag); err == nil && c.Check(v) && (best == nil || v.GreaterThan(best)) {
				best = v
			}
		}
		if best == nil {
			return "", errors.New("unable to determine latest version from provided list")
		}
		latest = best.Original()
	case kindAlphabetical:
		sorted := slices.Clone(tags)
		sort.Strings(sorted)
		if strings.ToUpper(arg) == "DESC" {
			latest = sorted[0]
		} else {
			latest = sorted[len(sorted)-1]
		}
	case kindNumerical:
		var prev float64
		for i, tag := range tags {
			n, err := strconv.ParseFloat(tag, 64)
			if err != nil {
				return "", fmt.Errorf("failed to parse invalid numeric value '%s'", tag)
			}
			if i > 0 && (strings.ToUpper(arg) != "DESC" && n < prev || strings.ToUpper(arg) == "DESC" && n > prev) {
				continue
			}
			latest, prev = tag, n
		}
	}
	if filter {
		return original[latest], nil
	}
	return latest, nil
}

// randomTags makes n tags from a vocabulary of versions, numbers and junk,
// sorted as a registry lists them, with duplicates removed.
func randomTags(r *rand.Rand, n int) []string {
	prefixes := []string{"", "", "", "v", "app-", "main-a1b2c3-", "rc-"}
	numbers := []string{"0", "1", "2", "10", "1.0", "01", "-3", "2.5", "1e1", "inf", "-inf"}
	junk := []string{"latest", "main", "dev", "sha-abc", "1.2", "1.2.3.4", "", "1.0.0-", "V1.2.3"}
	pres := []string{"", "", "", "-rc.1", "-rc.2", "-alpha", "-0"}
	metas := []string{"", "", "", "+b1", "+b2"}
	var tags []string
	for range n {
		p := prefixes[r.IntN(len(prefixes))]
		switch r.IntN(3) {
		case 0:
			tags = append(tags, fmt.Sprintf("%s%d.%d.%d%s%s", p, r.IntN(3), r.IntN(3), r.IntN(3),
				pres[r.IntN(len(pres))], metas[r.IntN(len(metas))]))
		case 1:
			tags = append(tags, p+numbers[r.IntN(len(numbers))])
		default:
			tags = append(tags, p+junk[r.IntN(len(junk))])
		}
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

func TestSelectMatchesFlux(t *testing.T) {
	type spec struct {
		kind             kind
		arg              string
		pattern, extract string
		filter           bool
	}
	specs := []spec{
		{kind: kindSemVer, arg: ">=1.0.0"},
		{kind: kindSemVer, arg: "*"},
		{kind: kindSemVer, arg: ">=0.0.0-0"},
		{kind: kindSemVer, arg: "^1.x-0 || <1"},
		{kind: kindSemVer, arg: "~1.1"},
		{kind: kindSemVer, arg: "*", pattern: `^app-(?P<v>.*)$`, extract: "$v", filter: true},
		{kind: kindSemVer, arg: ">=1.0.0-0", pattern: `^[a-z]+-(.*)$`, extract: "${1}", filter: true},
		{kind: kindSemVer, arg: "*", pattern: `^(v?)(\d+)\.(\d+)\.(\d+)`, extract: "$2.$3.$4", filter: true},
		{kind: kindSemVer, arg: "*", pattern: `^v`, filter: true},
		{kind: kindAlphabetical, arg: ""},
		{kind: kindAlphabetical, arg: "desc"},
		{kind: kindAlphabetical, arg: "asc", pattern: `-(.*)$`, extract: "$1", filter: true},
		{kind: kindAlphabetical, arg: "desc", pattern: `^[^-]*-?(.*)$`, extract: "$1", filter: true},
		{kind: kindNumerical, arg: "asc", pattern: `^\d+(\.\d+)?$`, filter: true},
		{kind: kindNumerical, arg: "desc", pattern: `^-?\d+$`, filter: true},
		{kind: kindNumerical, arg: "asc", pattern: `^main-[a-f0-9]+-(?P<n>.*)`, extract: "$n", filter: true},
		{kind: kindNumerical, arg: "desc", pattern: `^(?:v|app-)?(\d+)(\.\d+)?$`, extract: "$1", filter: true},
	}
	r := rand.New(rand.NewPCG(3, 4))
	compared := 0
	for _, s := range specs {
		var opts []Option
		switch s.kind {
		case kindSemVer:
			opts = append(opts, WithSemVer(s.arg))
		case kindAlphabetical:
			opts = append(opts, WithAlphabetical(Order(s.arg)))
		case kindNumerical:
			opts = append(opts, WithNumerical(Order(s.arg)))
		}
		if s.filter {
			opts = append(opts, WithFilterTags(s.pattern, s.extract))
		}
		p, err := New(opts...)
		if err != nil {
			t.Fatalf("New(%+v): %v", s, err)
		}
		for range 300 {
			tags := randomTags(r, 1+r.IntN(30))
			want, fluxErr := fluxSelect(s.kind, s.arg, s.pattern, s.extract, s.filter, tags)
			res, err := p.Select(tags)
			switch {
			case fluxErr == nil && (err != nil || res.Tag != want):
				t.Errorf("spec %+v, tags %q: Select = %q, %v; Flux selects %q", s, tags, res.Tag, err, want)
			case fluxErr == nil:
				compared++
			case strings.Contains(fluxErr.Error(), "numeric"):
				// Flux fails on a non-number; we select among numbers.
			case err == nil:
				t.Errorf("spec %+v, tags %q: Select = %q; Flux fails: %v", s, tags, res.Tag, fluxErr)
			}
		}
	}
	if compared < 2000 {
		t.Errorf("compared %d selections with Flux's; want most of them", compared)
	}
}

// parse is parseVersion returning the version.
func parse(s string) (version, bool) {
	var v version
	ok := parseVersion(s, &v)
	return v, ok
}

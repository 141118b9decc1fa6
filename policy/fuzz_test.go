package policy

import (
	"errors"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// Run one with, e.g., go test ./policy -run '^$' -fuzz FuzzSelect -fuzztime 1m

func FuzzParseVersion(f *testing.F) {
	for _, s := range versionTexts() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parse(s)
		want, err := fluxParseVersion(s)
		if ok != (err == nil) {
			t.Fatalf("parseVersion(%q) ok = %v; Flux's parse error = %v", s, ok, err)
		}
		if ok {
			w := version{want.Major(), want.Minor(), want.Patch(), want.Prerelease(), want.Metadata()}
			if got != w {
				t.Fatalf("parseVersion(%q) = %+v; want %+v", s, got, w)
			}
		}
	})
}

func FuzzRange(f *testing.F) {
	versions := testVersions()
	for i, r := range testRanges() {
		f.Add(r, versions[i%len(versions)])
	}
	f.Fuzz(func(t *testing.T, rs, vs string) {
		r, err := compileRange(rs)
		if err != nil {
			return
		}
		v, ok := parse(vs)
		if !ok {
			return
		}
		mv := semver.New(v.major, v.minor, v.patch, v.pre, v.meta)
		if got, want := r.check(&v), r.exact.Check(mv); got != want {
			t.Fatalf("range %q (canonical %q, slow %v): check(%s) = %v; Masterminds says %v", rs, r.exact.String(), r.slow, vs, got, want)
		}
	})
}

// FuzzRangeParts builds ranges from an operator, a version and a joiner
// each, so that more of them parse than in FuzzRange.
func FuzzRangeParts(f *testing.F) {
	ops := []string{"", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"}
	joins := []string{" ", ", ", " || ", " - ", "  "}
	f.Add(uint8(5), "1.x-0", uint8(2), uint8(3), "2.0.0", "1.5.0-rc.1")
	f.Add(uint8(1), "v1.2", uint8(0), uint8(11), "0.0.x", "0.0.3")
	f.Add(uint8(2), "1.2.x-rc.2", uint8(1), uint8(0), "*", "1.2.3-rc.2")
	f.Fuzz(func(t *testing.T, op1 uint8, v1 string, join uint8, op2 uint8, v2, vs string) {
		rs := ops[int(op1)%len(ops)] + v1 + joins[int(join)%len(joins)] + ops[int(op2)%len(ops)] + v2
		r, err := compileRange(rs)
		if err != nil {
			return
		}
		if r.slow {
			t.Fatalf("compileRange(%q) fell back to Masterminds for every version (canonical %q)", rs, r.exact.String())
		}
		v, ok := parse(vs)
		if !ok {
			return
		}
		mv := semver.New(v.major, v.minor, v.patch, v.pre, v.meta)
		if got, want := r.check(&v), r.exact.Check(mv); got != want {
			t.Fatalf("range %q (canonical %q): check(%s) = %v; Masterminds says %v", rs, r.exact.String(), vs, got, want)
		}
	})
}

func FuzzFastMatcher(f *testing.F) {
	for i, p := range patternCases.patterns {
		f.Add(p, patternCases.tags[i%len(patternCases.tags)])
	}
	f.Fuzz(func(t *testing.T, pattern, tag string) {
		m := newFastMatcher(pattern)
		if m == nil || !isASCII(tag) {
			return
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			t.Fatalf("newFastMatcher accepted %q, which regexp.Compile rejects: %v", pattern, err)
		}
		checkFastMatch(t, pattern, re, m, tag)
	})
}

// FuzzSelect checks Select's promises on any policy and tags: no panic, a
// tag from the input or a *NoTagError, diagnostics that add up, a result
// independent of the input's order, and Flux's selection wherever Flux
// selects one.
func FuzzSelect(f *testing.F) {
	f.Add(uint8(0), ">=1.0.0", false, "", "", "1.0.0\nv1.2.0\nlatest\n1.3.0-rc.1")
	f.Add(uint8(0), "*", true, `^app-(?P<v>.*)$`, "$v", "app-1.0.0\napp-v1.0.0\nlib-2.0.0")
	f.Add(uint8(1), "desc", true, `-(\d+)$`, "$1", "a-1\nb-1\nc-2")
	f.Add(uint8(2), "", true, `^main-[a-f0-9]+-(?P<ts>.*)`, "$ts", "main-abc-100\nmain-def-99\nmain-0-x")
	f.Add(uint8(2), "desc", false, "", "", "1\n1.0\nNaN\ninf\n-3")
	f.Add(uint8(1), "", true, `^(\w)(\w)?`, "$2$1", "ab\nb\nba\né")
	f.Fuzz(func(t *testing.T, k uint8, arg string, filter bool, pattern, extract, joined string) {
		kind := kind(k%3) + kindSemVer
		var opts []Option
		switch kind {
		case kindSemVer:
			opts = append(opts, WithSemVer(arg))
		case kindAlphabetical:
			opts = append(opts, WithAlphabetical(Order(arg)))
		default:
			opts = append(opts, WithNumerical(Order(arg)))
		}
		if filter {
			opts = append(opts, WithFilterTags(pattern, extract))
		}
		p, err := New(opts...)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("New: %v is not a *SpecError", err)
			}
			return
		}
		tags := strings.Split(joined, "\n")
		res, err := p.Select(tags)
		d := res.Diagnostics
		if d.Tags != len(tags) || d.Candidates+d.IgnoredCount() != d.Tags || d.Candidates < 0 {
			t.Fatalf("Select(%q): diagnostics %+v do not add up", tags, d)
		}
		_ = d.String()
		if err != nil {
			var nt *NoTagError
			if !errors.As(err, &nt) || d.Candidates != 0 || res.Tag != "" {
				t.Fatalf("Select(%q) = %+v, %v; want a *NoTagError and no candidates", tags, res, err)
			}
			_ = err.Error()
		} else if !slices.Contains(tags, res.Tag) {
			t.Fatalf("Select(%q) = %q, not one of the tags", tags, res.Tag)
		}

		reversed := slices.Clone(tags)
		slices.Reverse(reversed)
		if res2, err2 := p.Select(reversed); res2.Tag != res.Tag || (err == nil) != (err2 == nil) {
			t.Fatalf("Select(%q) = %q, %v but Select(%q) = %q, %v", tags, res.Tag, err, reversed, res2.Tag, err2)
		}

		// Flux, given the tags in byte order as a registry lists them.
		sorted := slices.Compact(slices.Sorted(slices.Values(tags)))
		if kind == kindNumerical && hasNaN(p, sorted) {
			return // Flux's answer then depends on where NaN falls
		}
		want, fluxErr := fluxSelect(kind, arg, pattern, extract, filter, sorted)
		if fluxErr == nil {
			res, err := p.Select(sorted)
			if err != nil || res.Tag != want {
				t.Fatalf("Select(%q) = %q, %v; Flux selects %q", sorted, res.Tag, err, want)
			}
		}
	})
}

func hasNaN(p *Policy, tags []string) bool {
	var sc *scratch
	if p.filter != nil {
		sc = p.filter.newScratch()
	}
	for _, tag := range tags {
		if v, ok := p.value(tag, sc); ok {
			if n, err := strconv.ParseFloat(v, 64); err == nil && math.IsNaN(n) {
				return true
			}
		}
	}
	return false
}

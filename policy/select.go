package policy

import (
	"math"
	"strconv"
	"strings"
)

// The three loops below make one pass over the tags, keep the index of the
// best candidate so far and never sort or allocate per tag (except for an
// extract template that is more than one group reference, whose expansion
// becomes a new string).
//
// Ties are settled so that the result depends only on the set of tags, not
// on their order; see "Ties" in the package documentation.

func (p *Policy) selectSemVer(tags []string, sc *scratch, t *tally) (int, string) {
	r := p.semver
	best := -1
	var v, bestVer version
	var bestValue string
	for i, tag := range tags {
		value, ok := p.value(tag, sc)
		if !ok {
			t.ignore(idxNoFilterMatch, tag)
			continue
		}
		switch {
		case !parseVersion(value, &v):
			t.ignore(idxNotSemVer, tag)
			continue
		case v.pre != "" && !r.anyPre:
			t.ignore(idxPreRelease, tag)
			continue
		case !r.check(&v):
			t.ignore(idxOutsideRange, tag)
			continue
		}
		if best >= 0 {
			c := compareVersions(&v, &bestVer)
			// Of equal versions, the value first in byte order wins
			// (1.2.3 over v1.2.3 and 1.2.3+build); of equal values, the
			// tag last in byte order.
			if c < 0 || c == 0 && (value > bestValue || value == bestValue && tag <= tags[best]) {
				continue
			}
		}
		best, bestVer, bestValue = i, v, value
	}
	return best, bestValue
}

func (p *Policy) selectAlphabetical(tags []string, sc *scratch, t *tally) (int, string) {
	best := -1
	var bestValue string
	for i, tag := range tags {
		value, ok := p.value(tag, sc)
		if !ok {
			t.ignore(idxNoFilterMatch, tag)
			continue
		}
		if best >= 0 {
			c := strings.Compare(value, bestValue)
			if p.desc {
				c = -c
			}
			// Of equal values, the tag last in byte order wins.
			if c < 0 || c == 0 && tag <= tags[best] {
				continue
			}
		}
		best, bestValue = i, value
	}
	return best, bestValue
}

func (p *Policy) selectNumerical(tags []string, sc *scratch, t *tally) (int, string) {
	best := -1
	var bestNum float64
	var bestValue string
	for i, tag := range tags {
		value, ok := p.value(tag, sc)
		if !ok {
			t.ignore(idxNoFilterMatch, tag)
			continue
		}
		n, ok := parseNumber(value)
		if !ok {
			t.ignore(idxNotNumber, tag)
			continue
		}
		if best >= 0 {
			if n == bestNum {
				// Equal numbers (1 and 1.0): the value last in byte order
				// wins; of equal values, the tag last in byte order.
				if value < bestValue || value == bestValue && tag <= tags[best] {
					continue
				}
			} else if (n < bestNum) != p.desc {
				continue
			}
		}
		best, bestNum, bestValue = i, n, value
	}
	return best, bestValue
}

// parseNumber parses s as strconv.ParseFloat(s, 64) does, which is what Flux
// uses, but refuses NaN, which has no place in an order, and values out of
// float64's range, which ParseFloat reports as an error. Up to 15 digits
// are read directly: such an integer is exact in a float64, so the result
// is the same, sooner.
func parseNumber(s string) (float64, bool) {
	if n := len(s); n > 0 && n <= 15 {
		var v uint64
		i := 0
		for ; i < n && isDigit(s[i]); i++ {
			v = v*10 + uint64(s[i]-'0')
		}
		if i == n {
			return float64(v), true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

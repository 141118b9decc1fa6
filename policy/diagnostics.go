package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Reason says why a tag was not a candidate.
type Reason string

// The reasons, in the order Diagnostics lists them.
const (
	// ReasonNoFilterMatch: the tag does not match spec.filterTags.pattern.
	ReasonNoFilterMatch Reason = "NoFilterMatch"
	// ReasonNotSemVer: the value is not a semantic version (after dropping
	// one leading "v").
	ReasonNotSemVer Reason = "NotSemVer"
	// ReasonPreRelease: the value is a pre-release and the range has no
	// pre-release part, so it admits none.
	ReasonPreRelease Reason = "PreRelease"
	// ReasonOutsideRange: the value is a version outside the range.
	ReasonOutsideRange Reason = "OutsideRange"
	// ReasonNotNumber: the value does not parse as a float64, or is NaN.
	ReasonNotNumber Reason = "NotNumber"
)

var reasonOrder = [...]Reason{
	ReasonNoFilterMatch, ReasonNotSemVer, ReasonPreRelease, ReasonOutsideRange, ReasonNotNumber,
}

// maxExamples is how many tags Diagnostics keeps for each reason.
const maxExamples = 3

// Diagnostics tells how a selection went: how many tags were given, how
// many were compared, and why the others were left out. String renders it
// for a person, e.g. "37 of 40 tags ignored: not semantic versions (e.g.
// latest, main-abc1234, dev)".
type Diagnostics struct {
	Tags       int       `json:"tags"`              // tags given to Select
	Candidates int       `json:"candidates"`        // tags that passed the filter and the policy's checks
	Ignored    []Ignored `json:"ignored,omitempty"` // one entry per reason that applied, in a fixed order
}

// Ignored counts the tags left out for one reason.
type Ignored struct {
	Reason   Reason   `json:"reason"`
	Count    int      `json:"count"`
	Examples []string `json:"examples"` // the first few such tags, in input order
	// Message describes the reason for a person, in agreement with Count,
	// e.g. "not semantic versions" or "outside range >=1.0.0".
	Message string `json:"message"`
}

// IgnoredCount is the number of tags that were not candidates.
func (d Diagnostics) IgnoredCount() int {
	n := 0
	for _, ig := range d.Ignored {
		n += ig.Count
	}
	return n
}

// String summarises the diagnostics in one line.
func (d Diagnostics) String() string {
	ignored := d.IgnoredCount()
	var b strings.Builder
	switch {
	case d.Tags == 0:
		return "no tags"
	case ignored == 0 && d.Tags == 1:
		return "1 tag considered, none ignored"
	case ignored == 0:
		return fmt.Sprintf("all %d tags considered", d.Tags)
	case ignored == d.Tags && d.Tags == 1:
		b.WriteString("the only tag ignored")
	case ignored == d.Tags:
		fmt.Fprintf(&b, "all %d tags ignored", d.Tags)
	default:
		fmt.Fprintf(&b, "%d of %d tags ignored", ignored, d.Tags)
	}
	b.WriteString(": ")
	for i, ig := range d.Ignored {
		if i > 0 {
			b.WriteString(", ")
		}
		if len(d.Ignored) > 1 {
			fmt.Fprintf(&b, "%d ", ig.Count)
		}
		b.WriteString(ig.Message)
		b.WriteString(" (")
		if ig.Count > len(ig.Examples) {
			b.WriteString("e.g. ")
		}
		for j, ex := range ig.Examples {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(showTag(ex))
		}
		b.WriteString(")")
	}
	return b.String()
}

// showTag prints a tag as it is when it looks like one, quoted otherwise,
// and shortened when long.
func showTag(t string) string {
	const max = 48
	if len(t) > max {
		return strconv.Quote(t[:max]) + "…"
	}
	if t == "" {
		return `""`
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '_' || c == '+') {
			return strconv.Quote(t)
		}
	}
	return t
}

// tally collects the diagnostics during a pass without allocating.
type tally struct {
	counts   [len(reasonOrder)]int
	examples [len(reasonOrder)][maxExamples]string
}

func (t *tally) ignore(r int, tag string) {
	if n := t.counts[r]; n < maxExamples {
		t.examples[r][n] = tag
	}
	t.counts[r]++
}

// reason indices into tally, in reasonOrder.
const (
	idxNoFilterMatch = iota
	idxNotSemVer
	idxPreRelease
	idxOutsideRange
	idxNotNumber
)

func (t *tally) diagnostics(tags int, p *Policy) Diagnostics {
	d := Diagnostics{Tags: tags, Candidates: tags}
	for i, n := range t.counts {
		if n == 0 {
			continue
		}
		d.Candidates -= n
		d.Ignored = append(d.Ignored, Ignored{
			Reason:   reasonOrder[i],
			Count:    n,
			Examples: append([]string(nil), t.examples[i][:min(n, maxExamples)]...),
			Message:  p.message(i, n),
		})
	}
	return d
}

// message describes reason i for n tags.
func (p *Policy) message(i, n int) string {
	plural := func(one, many string) string {
		if n == 1 {
			return one
		}
		return many
	}
	switch i {
	case idxNoFilterMatch:
		return "not matching pattern " + quoted(p.filter.re.String())
	case idxNotSemVer:
		return plural("not a semantic version", "not semantic versions")
	case idxPreRelease:
		return plural("pre-release", "pre-releases") + " excluded by range " + quoted(p.semver.text)
	case idxOutsideRange:
		return "outside range " + quoted(p.semver.text)
	case idxNotNumber:
		return plural("not a number", "not numbers")
	}
	return string(reasonOrder[i])
}

// quoted puts a pattern or range between double quotes as it was written:
// Go's escaping would double every backslash of a regular expression and
// show people a pattern they did not write.
func quoted(s string) string { return `"` + s + `"` }

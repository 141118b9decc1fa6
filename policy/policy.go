package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Order is the direction of an alphabetical or numerical policy.
type Order string

const (
	// Ascending selects the greatest value: the last in byte order, or the
	// highest number. It is the default.
	Ascending Order = "asc"
	// Descending selects the least value: the first in byte order, or the
	// lowest number.
	Descending Order = "desc"
)

// Option configures a Policy.
type Option func(*options)

type options struct {
	kinds       []kind // one entry per policy option given
	semverRange string
	order       Order
	orderField  string
	filter      bool
	pattern     string
	extract     string
}

type kind uint8

const (
	kindSemVer kind = iota + 1
	kindAlphabetical
	kindNumerical
)

// WithSemVer selects the highest semantic version within rng, a
// Masterminds/semver/v3 constraint such as ">=1.0.0", "1.x" or "^2.3 ||
// ~1.9". It is the ImagePolicy's spec.policy.semver.range. There is no
// default: exactly one of WithSemVer, WithAlphabetical and WithNumerical is
// required.
func WithSemVer(rng string) Option {
	return func(o *options) {
		o.kinds = append(o.kinds, kindSemVer)
		o.semverRange = rng
	}
}

// WithAlphabetical orders values by their bytes (spec.policy.alphabetical).
// order is Ascending (the default, also for "") to select the last value,
// or Descending to select the first; the case of the letters does not
// matter.
func WithAlphabetical(order Order) Option {
	return func(o *options) {
		o.kinds = append(o.kinds, kindAlphabetical)
		o.order, o.orderField = order, "spec.policy.alphabetical.order"
	}
}

// WithNumerical orders values as float64 numbers (spec.policy.numerical).
// order is Ascending (the default, also for "") to select the highest, or
// Descending to select the lowest; the case of the letters does not matter.
func WithNumerical(order Order) Option {
	return func(o *options) {
		o.kinds = append(o.kinds, kindNumerical)
		o.order, o.orderField = order, "spec.policy.numerical.order"
	}
}

// WithFilterTags keeps only the tags that pattern, a Go regular expression,
// matches anywhere in (anchor it with ^ and $ to match whole tags), and has
// the policy order the value that extract makes of the match instead of
// the tag: "$name", "${1}" and text around them, as regexp's Expand reads
// templates. The tag, not the value, is what Select returns. An empty
// extract orders the tags themselves. This is the ImagePolicy's
// spec.filterTags. By default every tag is a candidate and is its own
// value. A later WithFilterTags replaces an earlier one.
func WithFilterTags(pattern, extract string) Option {
	return func(o *options) {
		o.filter, o.pattern, o.extract = true, pattern, extract
	}
}

// makeOptions applies opts and rejects the combinations that cannot work.
func makeOptions(opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	switch len(o.kinds) {
	case 0:
		return o, &SpecError{Field: "spec.policy", Err: errors.New("one of semver, alphabetical or numerical is required")}
	case 1:
	default:
		return o, &SpecError{Field: "spec.policy", Err: errors.New("only one of semver, alphabetical or numerical may be set")}
	}
	if o.kinds[0] != kindSemVer {
		switch Order(strings.ToLower(string(o.order))) {
		case "", Ascending:
			o.order = Ascending
		case Descending:
			o.order = Descending
		default:
			return o, &SpecError{Field: o.orderField, Value: string(o.order),
				Err: fmt.Errorf("must be %q or %q", Ascending, Descending)}
		}
	}
	return o, nil
}

// Policy selects the latest tag from a list. It is compiled once by New and
// is safe for concurrent use.
type Policy struct {
	kind   kind
	desc   bool
	semver *semverRange // kindSemVer only
	filter *filter      // nil: no spec.filterTags
}

// New compiles a policy. Exactly one of WithSemVer, WithAlphabetical and
// WithNumerical is required. An invalid spec returns a *SpecError naming
// the field.
func New(opts ...Option) (*Policy, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	p := &Policy{kind: o.kinds[0], desc: o.order == Descending}
	if p.kind == kindSemVer {
		if p.semver, err = compileRange(o.semverRange); err != nil {
			return nil, &SpecError{Field: "spec.policy.semver.range", Value: o.semverRange, Err: err}
		}
	}
	if o.filter {
		if p.filter, err = newFilter(o.pattern, o.extract); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Result is the outcome of Select.
type Result struct {
	// Tag is the selected tag, as it appeared in the input.
	Tag string `json:"tag"`
	// Value is what the policy ordered to select Tag: the value extracted
	// by spec.filterTags, or Tag itself without an extract template.
	Value string `json:"value"`
	// Diagnostics tell how the tags were treated.
	Diagnostics Diagnostics `json:"diagnostics"`
}

// Select returns the latest of tags according to the policy, in one pass
// over them. Tags that do not fit (that the filter does not match, or that
// are not versions or numbers) are left out and counted in the result's
// Diagnostics; when none is left, Select returns a *NoTagError carrying the
// same Diagnostics, and a Result with an empty Tag.
func (p *Policy) Select(tags []string) (Result, error) {
	var sc *scratch
	if p.filter != nil {
		sc = p.filter.newScratch()
	}
	var t tally
	var best int
	var value string
	switch p.kind {
	case kindSemVer:
		best, value = p.selectSemVer(tags, sc, &t)
	case kindAlphabetical:
		best, value = p.selectAlphabetical(tags, sc, &t)
	default:
		best, value = p.selectNumerical(tags, sc, &t)
	}
	d := t.diagnostics(len(tags), p)
	if best < 0 {
		return Result{Diagnostics: d}, &NoTagError{Diagnostics: d}
	}
	return Result{Tag: tags[best], Value: value, Diagnostics: d}, nil
}

// value is the value the policy orders for tag; ok is false when the filter
// does not match it.
func (p *Policy) value(tag string, sc *scratch) (string, bool) {
	if p.filter == nil {
		return tag, true
	}
	return p.filter.value(tag, sc)
}

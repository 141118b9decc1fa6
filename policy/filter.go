package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// filter is a compiled spec.filterTags: a pattern a tag must match and a
// template that turns the match into the value the policy orders.
type filter struct {
	re   *regexp.Regexp
	fast *fastMatcher // nil: the pattern is outside its shape
	// extract is the template; "" means the tag itself is the value, as in
	// Flux, where an empty extract is no extract.
	extract string
	// group is the one group the template consists of ("$ts", "${1}"), or
	// -1 when the template is anything else. The value is then a substring
	// of the tag and costs nothing.
	group int
}

func newFilter(pattern, extract string) (*filter, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, &SpecError{Field: "spec.filterTags.pattern", Value: pattern, Err: err}
	}
	f := &filter{re: re, fast: newFastMatcher(pattern), extract: extract, group: -1}
	if extract == "" {
		return f, nil
	}
	refs, whole := templateRefs(extract)
	for _, r := range refs {
		i, ok := f.groupIndex(r)
		if !ok {
			return nil, &SpecError{Field: "spec.filterTags.extract", Value: extract, Err: f.missingGroup(r)}
		}
		if whole {
			f.group = i
		}
	}
	return f, nil
}

// templateRef is one reference in an extract template: a group number, or
// a name when num is -1.
type templateRef struct {
	text string // as written, e.g. "${ts}"
	name string
	num  int
}

// templateRefs lists the group references in a template, reading it as
// (*regexp.Regexp).Expand does: "$$" is a dollar sign, "$name" takes the
// longest run of letters, digits and underscores, "${name}" is braced, a
// name of digits without a leading zero is a group number, and a "$" not
// followed by a valid reference is literal text. whole reports whether the
// template is nothing but one reference.
func templateRefs(t string) (refs []templateRef, whole bool) {
	rest := t
	for {
		i := strings.IndexByte(rest, '$')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		if strings.HasPrefix(rest, "$") {
			rest = rest[1:]
			continue
		}
		ref, after, ok := readRef(rest)
		if !ok {
			continue
		}
		ref.text = "$" + rest[:len(rest)-len(after)]
		refs = append(refs, ref)
		rest = after
	}
	whole = len(refs) == 1 && refs[0].text == t
	return refs, whole
}

// readRef reads the reference after a "$".
func readRef(s string) (templateRef, string, bool) {
	brace := strings.HasPrefix(s, "{")
	if brace {
		s = s[1:]
	}
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		n += size
	}
	if n == 0 {
		return templateRef{}, "", false
	}
	name, rest := s[:n], s[n:]
	if brace {
		if !strings.HasPrefix(rest, "}") {
			return templateRef{}, "", false
		}
		rest = rest[1:]
	}
	ref := templateRef{name: name, num: -1}
	if num, ok := parseUint(name); ok && num < 1e8 && (name[0] != '0' || len(name) == 1) {
		ref.num = int(num)
	}
	return ref, rest, true
}

// groupIndex is the group r names. A name that several groups share has no
// single index: the value is then expanded by the regexp package, which
// takes the first of them that took part in the match.
func (f *filter) groupIndex(r templateRef) (int, bool) {
	if r.num >= 0 {
		return r.num, r.num <= f.re.NumSubexp()
	}
	names := f.re.SubexpNames()
	i := slices.Index(names, r.name)
	if i < 0 {
		return 0, false
	}
	if slices.Contains(names[i+1:], r.name) {
		return -1, true
	}
	return i, true
}

func (f *filter) missingGroup(r templateRef) error {
	var have []string
	for i, name := range f.re.SubexpNames() {
		if i == 0 {
			continue
		}
		if name == "" {
			name = fmt.Sprint(i)
		}
		have = append(have, name)
	}
	what := fmt.Sprintf("group %q", r.name)
	if r.num >= 0 {
		what = fmt.Sprintf("group %d", r.num)
	}
	if len(have) == 0 {
		return fmt.Errorf("%s refers to %s, but the pattern has no groups", r.text, what)
	}
	return fmt.Errorf("%s refers to %s, but the pattern has only: %s", r.text, what, strings.Join(have, ", "))
}

// scratch is the per-call state of a filter: match indices and the buffer
// a template expands into.
type scratch struct {
	caps []int
	buf  []byte
}

func (f *filter) newScratch() *scratch {
	return &scratch{caps: make([]int, 2*(f.re.NumSubexp()+1))}
}

// value matches tag and returns the value the policy orders. ok is false
// when the tag does not match.
func (f *filter) value(tag string, sc *scratch) (value string, ok bool) {
	var caps []int
	if f.fast != nil && isASCII(tag) {
		if !f.fast.match(tag, sc.caps) {
			return "", false
		}
		caps = sc.caps
	} else {
		caps = f.re.FindStringSubmatchIndex(tag)
		if caps == nil {
			return "", false
		}
	}
	switch {
	case f.extract == "":
		return tag, true
	case f.group >= 0:
		if caps[2*f.group] < 0 {
			return "", true
		}
		return tag[caps[2*f.group]:caps[2*f.group+1]], true
	}
	sc.buf = f.re.ExpandString(sc.buf[:0], f.extract, tag, caps)
	return string(sc.buf), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

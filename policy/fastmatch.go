package policy

import (
	"math/bits"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
)

// fastMatcher runs the common shape of tag patterns without the regexp
// engine: a sequence of literals, character classes and anchors, where only
// single characters repeat and every repeat is followed by something it
// cannot consume. Patterns like ^main-[a-f0-9]+-(?P<ts>[0-9]+)$ have that
// shape. For them the greedy walk finds the match the regexp package finds
// (leftmost, then preferring longer repeats), with no backtracking and no
// allocation, several times faster than regexp.FindStringSubmatchIndex.
//
// It reads ASCII text only; the filter hands other text to the regexp.
// TestFastMatcherAgrees and FuzzFastMatcher compare it with the regexp
// package.
type fastMatcher struct {
	steps     []step
	anchored  bool // the pattern starts with \A or ^
	first     *byteTable
	firstNull bool // the pattern can start by consuming nothing
}

type stepKind uint8

const (
	stepClass     stepKind = iota // consume min..max characters of set
	stepLiteral                   // consume lit
	stepAnyNotNL                  // consume min..max characters other than \n
	stepOpen                      // record the start of capture group
	stepClose                     // record the end of capture group
	stepBeginText                 // assert position 0
	stepEndText                   // assert the end of the text
)

type step struct {
	kind     stepKind
	set      asciiSet
	tbl      *byteTable // set, for the walk
	min, max int        // max < 0: unbounded
	lit      string
	group    int
}

// anyNotNL is what . matches in ASCII text.
var anyNotNL = asciiSet{^uint64(0) &^ (1 << '\n'), ^uint64(0)}

// byteTable marks the bytes of a set: one load per byte tested.
type byteTable [256]bool

func (s asciiSet) table() *byteTable {
	var t byteTable
	for c := range 128 {
		t[c] = s.has(byte(c))
	}
	return &t
}

// single returns the one byte of a set that has exactly one.
func (s asciiSet) single() (byte, bool) {
	n := bits.OnesCount64(s[0]) + bits.OnesCount64(s[1])
	if n != 1 {
		return 0, false
	}
	if s[0] != 0 {
		return byte(bits.TrailingZeros64(s[0])), true
	}
	return byte(64 + bits.TrailingZeros64(s[1])), true
}

// asciiSet is a set of ASCII bytes.
type asciiSet [2]uint64

func (s *asciiSet) add(c rune) {
	if c >= 0 && c < 128 {
		s[c>>6] |= 1 << (uint(c) & 63)
	}
}

func (s *asciiSet) has(c byte) bool { return c < 128 && s[c>>6]&(1<<(c&63)) != 0 }

func (s asciiSet) intersects(t asciiSet) bool { return s[0]&t[0] != 0 || s[1]&t[1] != 0 }

// newFastMatcher returns nil when pattern is outside the shape fastMatcher
// runs. It parses with the flags regexp.Compile uses, so group numbers agree.
func newFastMatcher(pattern string) *fastMatcher {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	m := &fastMatcher{}
	if !m.add(re) {
		return nil
	}
	if !m.deterministic() {
		return nil
	}
	for _, s := range m.steps {
		if s.kind == stepBeginText {
			m.anchored = true
			break
		}
		if s.kind == stepClass {
			break
		}
	}
	first, firstNull := m.firstSet(0)
	m.first, m.firstNull = first.table(), firstNull
	m.steps = mergeLiterals(m.steps)
	return m
}

// mergeLiterals turns runs of steps that consume one given byte into
// literal steps, and gives the other class steps their tables.
func mergeLiterals(steps []step) []step {
	var out []step
	for _, s := range steps {
		if s.kind != stepClass {
			out = append(out, s)
			continue
		}
		if c, ok := s.set.single(); ok && s.min == 1 && s.max == 1 {
			if n := len(out); n > 0 && out[n-1].kind == stepLiteral {
				out[n-1].lit += string(rune(c))
			} else {
				out = append(out, step{kind: stepLiteral, lit: string(rune(c))})
			}
			continue
		}
		if s.set == anyNotNL && s.max < 0 {
			s.kind = stepAnyNotNL // .* and .+: a search for \n
		}
		s.tbl = s.set.table()
		out = append(out, s)
	}
	return out
}

// add appends the steps for re, reporting false for anything outside the
// supported shape.
func (m *fastMatcher) add(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !m.add(sub) {
				return false
			}
		}
		return true
	case syntax.OpCapture:
		m.steps = append(m.steps, step{kind: stepOpen, group: re.Cap})
		if !m.add(re.Sub[0]) {
			return false
		}
		m.steps = append(m.steps, step{kind: stepClose, group: re.Cap})
		return true
	case syntax.OpBeginText:
		// Only before anything is consumed: after a repeat, ^ would make
		// the regexp prefer an empty repeat where the greedy walk fails
		// ((b*)^ matches "b" at 0, empty).
		if slices.ContainsFunc(m.steps, func(s step) bool { return s.kind == stepClass }) {
			return false
		}
		m.steps = append(m.steps, step{kind: stepBeginText})
		return true
	case syntax.OpEndText:
		m.steps = append(m.steps, step{kind: stepEndText})
		return true
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			set, ok := literalSet(r, re.Flags&syntax.FoldCase != 0)
			if !ok {
				return false
			}
			m.steps = append(m.steps, step{kind: stepClass, set: set, min: 1, max: 1})
		}
		return true
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		set, ok := charSet(re)
		if !ok {
			return false
		}
		m.steps = append(m.steps, step{kind: stepClass, set: set, min: 1, max: 1})
		return true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		if re.Flags&syntax.NonGreedy != 0 {
			return false
		}
		set, ok := charSet(re.Sub[0])
		if !ok {
			return false
		}
		s := step{kind: stepClass, set: set}
		switch re.Op {
		case syntax.OpStar:
			s.min, s.max = 0, -1
		case syntax.OpPlus:
			s.min, s.max = 1, -1
		case syntax.OpQuest:
			s.min, s.max = 0, 1
		default:
			s.min, s.max = re.Min, re.Max
		}
		m.steps = append(m.steps, s)
		return true
	}
	return false
}

// literalSet is the set matching rune r, with its case variants when fold
// is set. Runes outside ASCII are refused, as ASCII text never holds them.
func literalSet(r rune, fold bool) (asciiSet, bool) {
	var s asciiSet
	if r < 0 || r >= 128 {
		return s, false
	}
	s.add(r)
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			s.add(f)
		}
	}
	return s, true
}

// charSet is the ASCII part of a one-character expression.
func charSet(re *syntax.Regexp) (asciiSet, bool) {
	var s asciiSet
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) != 1 {
			return s, false
		}
		return literalSet(re.Rune[0], re.Flags&syntax.FoldCase != 0)
	case syntax.OpAnyChar:
		return asciiSet{^uint64(0), ^uint64(0)}, true
	case syntax.OpAnyCharNotNL:
		s = asciiSet{^uint64(0), ^uint64(0)}
		s[0] &^= 1 << '\n'
		return s, true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for c := re.Rune[i]; c <= re.Rune[i+1] && c < 128; c++ {
				s.add(c)
			}
		}
		return s, true
	}
	return s, false
}

// firstSet is the set of characters the steps from i on can consume first,
// and whether they can all pass without consuming anything. \z stops the
// walk: past it nothing can be consumed.
func (m *fastMatcher) firstSet(i int) (asciiSet, bool) {
	var set asciiSet
	for ; i < len(m.steps); i++ {
		s := &m.steps[i]
		switch s.kind {
		case stepEndText:
			return set, false
		case stepClass:
			set[0] |= s.set[0]
			set[1] |= s.set[1]
			if s.min > 0 {
				return set, false
			}
		}
	}
	return set, true
}

// deterministic reports whether the greedy walk is exact: every repeat that
// may stop early must be followed by steps that cannot start with a
// character it consumes. Then no match can give a repeat fewer characters
// than the greedy walk does: the character after the shorter run would have
// to be consumed by a later step (it cannot), or pass \z (it is not the
// end), or be left after the match, in which case the greedy walk, whose
// remaining steps can then all match nothing, succeeds too. So the greedy
// walk fails only when there is no match, and otherwise finds the one the
// regexp package prefers, which gives each repeat in turn the most it can
// take. (^ after a repeat would break this, so it is refused in add.)
func (m *fastMatcher) deterministic() bool {
	for i := range m.steps {
		s := &m.steps[i]
		if s.kind != stepClass || s.min == s.max {
			continue
		}
		follow, _ := m.firstSet(i + 1)
		if follow.intersects(s.set) {
			return false
		}
	}
	return true
}

// match finds the leftmost match in the ASCII text s and records the groups
// in caps (2 entries per group, group 0 the whole match; the caller sizes
// it). It reports whether there was a match.
func (m *fastMatcher) match(s string, caps []int) bool {
	last := len(s)
	if m.anchored {
		last = 0
	}
	for start := 0; start <= last; start++ {
		// A pattern that must consume a character cannot match where the
		// next one is not among those it can start with.
		if start < len(s) && !m.firstNull && !m.first[s[start]] {
			continue
		}
		if end, ok := m.matchAt(s, start, caps); ok {
			caps[0], caps[1] = start, end
			return true
		}
	}
	return false
}

func (m *fastMatcher) matchAt(s string, pos int, caps []int) (int, bool) {
	for i := range m.steps {
		st := &m.steps[i]
		switch st.kind {
		case stepLiteral:
			if len(s)-pos < len(st.lit) || s[pos:pos+len(st.lit)] != st.lit {
				return 0, false
			}
			pos += len(st.lit)
		case stepAnyNotNL:
			end := len(s)
			if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
				end = pos + i
			}
			if end-pos < st.min {
				return 0, false
			}
			pos = end
		case stepClass:
			limit := len(s)
			if st.max >= 0 && st.max < limit-pos {
				limit = pos + st.max
			}
			end := pos
			for end < limit && st.tbl[s[end]] {
				end++
			}
			if end-pos < st.min {
				return 0, false
			}
			pos = end
		case stepOpen:
			caps[2*st.group] = pos
		case stepClose:
			caps[2*st.group+1] = pos
		case stepBeginText:
			if pos != 0 {
				return 0, false
			}
		case stepEndText:
			if pos != len(s) {
				return 0, false
			}
		}
	}
	return pos, true
}

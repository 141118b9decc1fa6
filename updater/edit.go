package updater

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// resolver looks up the values that markers set.
type resolver struct {
	policies         map[string]Ref
	defaultNamespace string
}

// objectChange is one change with the object it was made in.
type objectChange struct {
	obj    ObjectIdentifier
	change Change
}

// fileEdit is the outcome of rewriting one file's content.
type fileEdit struct {
	// out is the new content, or nil when nothing changed.
	out     []byte
	changes []objectChange
	diags   []Diagnostic
	// policies are the policies ("ns/name") named by well-formed markers,
	// sorted and distinct, whether or not they are in the set.
	policies []string
	// failed is set when the file could not be parsed or rewritten.
	failed bool
}

// target is a marked scalar to set.
type target struct {
	node   *yaml.Node
	line   int
	flow   bool
	obj    ObjectIdentifier
	setter string
	value  string
}

// splice is one replacement in the original bytes.
type splice struct {
	start, end int
	text       string
	target     *target
}

// rewrite sets the values marked in src and returns the new content with
// only the bytes of the marked scalars changed. It never returns content
// that does not parse to the same documents with the new values.
func rewrite(file string, src []byte, res *resolver) fileEdit {
	return rewriteWith(file, src, res, &scratch{})
}

// scratch holds the buffers a worker reuses from one file to the next;
// nothing in them outlives a call of rewriteWith.
type scratch struct {
	lines   []int
	splices []splice
	stream  []byte
	a, b    yaml.Node
}

func rewriteWith(file string, src []byte, res *resolver, sc *scratch) fileEdit {
	var fe fileEdit
	docs, err := parseDocuments(src)
	if err != nil {
		fe.failed = true
		fe.diags = append(fe.diags, Diagnostic{File: file, Line: yamlErrorLine(err), Severity: SeverityError,
			Message: "cannot parse YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
		return fe
	}
	w := walker{file: file, res: res, src: src, fe: &fe}
	for _, doc := range docs {
		w.obj = objectOf(doc)
		w.node(doc, false)
	}
	slices.Sort(fe.policies)
	fe.policies = slices.Compact(fe.policies)
	if len(w.targets) == 0 {
		return fe
	}
	sc.lines = appendLineStarts(sc.lines[:0], src)
	lines := sc.lines
	splices := sc.splices[:0]
	defer func() { clear(splices); sc.splices = splices[:0] }()
	for _, t := range w.targets {
		sp, msg := locate(src, lines, t)
		if msg != "" {
			fe.diags = append(fe.diags, Diagnostic{File: file, Line: t.line, Severity: SeverityNote, Message: msg})
			continue
		}
		splices = append(splices, sp)
	}
	if len(splices) == 0 {
		return fe
	}
	slices.SortFunc(splices, func(a, b splice) int { return a.start - b.start })
	size := len(src)
	for i, sp := range splices {
		if i > 0 && sp.start < splices[i-1].end {
			fe.failed = true
			fe.diags = append(fe.diags, Diagnostic{File: file, Line: sp.target.line, Severity: SeverityError,
				Message: "internal error: overlapping values; file left unchanged"})
			return fe
		}
		size += len(sp.text) - (sp.end - sp.start)
	}
	out := make([]byte, 0, size)
	prev := 0
	for _, sp := range splices {
		out = append(out, src[prev:sp.start]...)
		out = append(out, sp.text...)
		prev = sp.end
	}
	out = append(out, src[prev:]...)

	if !verifyLines(src, lines, splices, sc) {
		err = verify(docs, out, splices)
	}
	if err != nil {
		fe.failed = true
		fe.diags = append(fe.diags, Diagnostic{File: file, Line: splices[0].target.line, Severity: SeverityError,
			Message: "internal error: the updated file would not read back as intended (" + err.Error() + "); file left unchanged"})
		return fe
	}
	fe.out = out
	// Changes in document order: the order the markers were found in.
	slices.SortStableFunc(splices, func(a, b splice) int { return targetIndex(w.targets, a.target) - targetIndex(w.targets, b.target) })
	for _, sp := range splices {
		t := sp.target
		fe.changes = append(fe.changes, objectChange{obj: t.obj, change: Change{OldValue: t.node.Value, NewValue: t.value, Setter: t.setter}})
	}
	return fe
}

func targetIndex(ts []*target, t *target) int {
	return slices.Index(ts, t)
}

var (
	docStart = []byte("---")
	docEnd   = []byte("...")
)

// parseDocuments parses every document of a YAML stream.
func parseDocuments(src []byte) ([]*yaml.Node, error) {
	if !bytes.Contains(src, docStart) && !bytes.Contains(src, docEnd) {
		// One document at most: parsing the bytes directly saves the
		// decoder's reader buffers.
		doc := new(yaml.Node)
		if err := yaml.Unmarshal(src, doc); err != nil {
			return nil, err
		}
		if doc.Kind == 0 {
			return nil, nil
		}
		return []*yaml.Node{doc}, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	for {
		doc := new(yaml.Node)
		err := dec.Decode(doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// objectOf identifies the Kubernetes object a document holds.
func objectOf(doc *yaml.Node) ObjectIdentifier {
	var id ObjectIdentifier
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return id
	}
	root := doc.Content[0]
	id.APIVersion = scalarValue(root, "apiVersion")
	id.Kind = scalarValue(root, "kind")
	if md := mappingValue(root, "metadata"); md != nil && md.Kind == yaml.MappingNode {
		id.Name = scalarValue(md, "name")
		id.Namespace = scalarValue(md, "namespace")
	}
	return id
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarValue(m *yaml.Node, key string) string {
	if v := mappingValue(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// walker finds the marked nodes of a file.
type walker struct {
	file    string
	res     *resolver
	src     []byte
	fe      *fileEdit
	obj     ObjectIdentifier
	targets []*target
}

func (w *walker) note(line int, format string, args ...any) {
	w.fe.diags = append(w.fe.diags, Diagnostic{File: w.file, Line: line, Severity: SeverityNote, Message: fmt.Sprintf(format, args...)})
}

func (w *walker) node(n *yaml.Node, flow bool) {
	w.ownLineComments(n)
	if n.Style&yaml.FlowStyle != 0 {
		flow = true
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		if n.Kind == yaml.SequenceNode {
			w.lineComment(n, n, flow)
		}
		for _, c := range n.Content {
			w.node(c, flow)
		}
	case yaml.MappingNode:
		w.lineComment(n, n, flow)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			w.ownLineComments(k)
			// A marker after "key:" whose value starts on the next line
			// is attached to the key; it marks the value.
			if k.LineComment != "" {
				w.lineComment(k, v, flow)
			}
			w.node(v, flow)
		}
	case yaml.ScalarNode, yaml.AliasNode:
		w.lineComment(n, n, flow)
	}
}

// ownLineComments notes markers in comments on lines of their own: they
// mark nothing.
func (w *walker) ownLineComments(n *yaml.Node) {
	for _, c := range [...]string{n.HeadComment, n.FootComment} {
		if !strings.Contains(c, MarkerKey) {
			continue
		}
		for _, line := range strings.Split(c, "\n") {
			if strings.Contains(line, MarkerKey) {
				w.note(findCommentLine(w.src, strings.TrimSpace(line)),
					"marker on a line of its own marks nothing; put it at the end of the line of the value to set")
			}
		}
	}
}

// findCommentLine returns the line number of the first line that, trimmed,
// equals comment; 0 if there is none.
func findCommentLine(src []byte, comment string) int {
	line := 1
	for len(src) > 0 {
		i := bytes.IndexByte(src, '\n')
		var l []byte
		if i < 0 {
			l, src = src, nil
		} else {
			l, src = src[:i], src[i+1:]
		}
		if string(bytes.TrimSpace(l)) == comment {
			return line
		}
		line++
	}
	return 0
}

// lineComment handles the line comment of holder, which marks value.
func (w *walker) lineComment(holder, value *yaml.Node, flow bool) {
	if !strings.Contains(holder.LineComment, MarkerKey) {
		return
	}
	line := holder.Line
	m, err := ParseMarker(holder.LineComment)
	if err != nil {
		w.note(line, "malformed marker: %v", err)
		return
	}
	policy := m.Policy(w.res.defaultNamespace)
	w.fe.policies = append(w.fe.policies, policy)
	switch {
	case value.Kind == yaml.AliasNode:
		w.note(line, "marker on an alias (*%s) cannot set it; mark the anchored value instead", value.Value)
		return
	case value.Kind != yaml.ScalarNode:
		w.note(line, "marker on a %s, not on a value; it must end the line of a scalar", kindName(value.Kind))
		return
	}
	ref, ok := w.res.policies[policy]
	if !ok {
		w.note(line, "policy %s is not among the policies of this update; value left unchanged", policy)
		return
	}
	val, ok := ref.value(m.Field)
	if !ok {
		w.note(line, "policy %s has no %s; value left unchanged", policy, m.Field)
		return
	}
	if value.Value == "" && value.Tag == "!!null" && value.Style == 0 {
		w.note(line, "marked field has no value; give it one (any) to have it set")
		return
	}
	if value.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		w.note(line, "marked block scalar (| or >) cannot be set; write the value on the marker's line")
		return
	}
	if value.Value == val {
		return
	}
	for _, t := range w.targets {
		if t.node == value {
			w.note(line, "value is marked twice; the first marker wins")
			return
		}
	}
	w.targets = append(w.targets, &target{node: value, line: line, flow: flow, obj: w.obj,
		setter: m.Setter(w.res.defaultNamespace), value: val})
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.DocumentNode:
		return "document"
	default:
		return "node"
	}
}

// lineStarts returns the byte offset of the start of each line, counting
// line breaks as the YAML parser does: LF, CRLF, CR, NEL, LS and PS.
func lineStarts(src []byte) []int {
	return appendLineStarts(nil, src)
}

// appendLineStarts appends the offsets where src's lines start to starts.
func appendLineStarts(starts []int, src []byte) []int {
	starts = append(starts, 0)
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '\n':
			starts = append(starts, i+1)
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			starts = append(starts, i+1)
		case 0xC2:
			if i+1 < len(src) && src[i+1] == 0x85 {
				i++
				starts = append(starts, i+1)
			}
		case 0xE2:
			if i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9) {
				i += 2
				starts = append(starts, i+1)
			}
		}
	}
	return starts
}

var errNotFound = errors.New("not found")

// locate finds the bytes of t's scalar and the text to replace them with.
// A non-empty message explains why the value cannot be set.
func locate(src []byte, lines []int, t *target) (splice, string) {
	n := t.node
	fail := func() (splice, string) {
		return splice{}, fmt.Sprintf("cannot find the bytes of the marked value %q on line %d; value left unchanged", n.Value, n.Line)
	}
	if n.Line < 1 || n.Line > len(lines) || n.Column < 1 {
		return fail()
	}
	p := lines[n.Line-1]
	if n.Line == 1 && bytes.HasPrefix(src, []byte("\xEF\xBB\xBF")) {
		p += 3
	}
	for c := 1; c < n.Column; c++ {
		if p >= len(src) {
			return fail()
		}
		_, size := utf8.DecodeRune(src[p:])
		p += size
	}
	// Skip the node's properties: an anchor (&a) and a tag (!!str).
	for p < len(src) && (src[p] == '&' || src[p] == '!') {
		for p < len(src) && !isSpace(src[p]) {
			p++
		}
		for p < len(src) && isSpace(src[p]) {
			p++
		}
	}
	var sp splice
	var err error
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		sp, err = locateQuoted(src, p, n.Value, '"')
		sp.text = doubleQuoted(t.value)
	case n.Style&yaml.SingleQuotedStyle != 0:
		sp, err = locateQuoted(src, p, n.Value, '\'')
		sp.text = singleQuoted(t.value)
	default:
		sp, err = locatePlain(src, p, n.Value, t.flow)
		sp.text = plainToken(t.value, t.flow)
	}
	if err != nil {
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 && strings.Contains(n.Value, " ") {
			return splice{}, fmt.Sprintf("marked value %q spans several lines; put it on one line to have it set", n.Value)
		}
		return fail()
	}
	sp.target = t
	return sp, ""
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// locatePlain finds the end of a one-line plain scalar starting at p and
// checks that its bytes are value.
func locatePlain(src []byte, p int, value string, flow bool) (splice, error) {
	e := p
	for e < len(src) {
		c := src[e]
		if c == '\n' || c == '\r' {
			break
		}
		if c == '#' && e > p && (src[e-1] == ' ' || src[e-1] == '\t') {
			break
		}
		if flow && (c == ',' || c == ']' || c == '}') {
			break
		}
		e++
	}
	for e > p && (src[e-1] == ' ' || src[e-1] == '\t') {
		e--
	}
	if string(src[p:e]) != value {
		return splice{}, errNotFound
	}
	return splice{start: p, end: e}, nil
}

// locateQuoted finds the end of a quoted scalar starting at p and checks
// that it reads as value.
func locateQuoted(src []byte, p int, value string, quote byte) (splice, error) {
	if p >= len(src) || src[p] != quote {
		return splice{}, errNotFound
	}
	e := p + 1
	escaped := false
	for ; e < len(src); e++ {
		c := src[e]
		if quote == '"' && c == '\\' {
			escaped = true
			e++
			continue
		}
		if c == quote {
			if quote == '\'' && e+1 < len(src) && src[e+1] == '\'' {
				escaped = true
				e++
				continue
			}
			break
		}
	}
	if e >= len(src) {
		return splice{}, errNotFound
	}
	e++ // past the closing quote
	body := src[p+1 : e-1]
	if !escaped && !bytes.ContainsAny(body, "\r\n") {
		if string(body) != value {
			return splice{}, errNotFound
		}
		return splice{start: p, end: e}, nil
	}
	// Escapes or line folding: let the parser read the token alone.
	var s string
	if err := yaml.Unmarshal(src[p:e], &s); err != nil || s != value {
		return splice{}, errNotFound
	}
	return splice{start: p, end: e}, nil
}

// verifyLines is the cheap form of verify, for the usual case: each splice
// replaces a one-line scalar in block context, alone on its line. It parses
// each such line alone, before and after the splice, and checks that the
// two hold the same nodes but for the marked value, which reads as the new
// value. A splice confined to one line that keeps that line's structure
// cannot change how any other line reads (block structure follows lines and
// indentation, and locate has already checked that the old bytes are the
// whole old token). It returns false when it cannot tell (a flow
// collection, a tagged or anchored value, two splices on one line, a line
// that does not parse alone, or any difference), and the caller falls back
// to verify, which parses the whole file.
func verifyLines(src []byte, lines []int, splices []splice, sc *scratch) bool {
	for i, sp := range splices {
		t := sp.target
		if t.flow || t.node.Anchor != "" || t.node.Style&yaml.TaggedStyle != 0 {
			return false
		}
		start := lines[t.node.Line-1]
		end := bytes.IndexByte(src[sp.start:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += sp.start
		}
		if sp.end > end || (i > 0 && splices[i-1].end > start) || (i+1 < len(splices) && splices[i+1].start < end) {
			return false
		}
		// Both lines as two documents of one stream: one parser for both.
		line := src[start:end]
		stream := append(sc.stream[:0], line...)
		stream = append(stream, "\n---\n"...)
		stream = append(stream, src[start:sp.start]...)
		stream = append(stream, sp.text...)
		stream = append(stream, src[sp.end:end]...)
		stream = append(stream, '\n')
		sc.stream = stream
		dec := yaml.NewDecoder(bytes.NewReader(stream))
		a, b := &sc.a, &sc.b
		*a, *b = yaml.Node{}, yaml.Node{}
		if dec.Decode(a) != nil || dec.Decode(b) != nil {
			return false
		}
		column := utf8.RuneCount(src[start:sp.start]) + 1
		if t.node.Line == 1 && bytes.HasPrefix(src, []byte("\xEF\xBB\xBF")) {
			column-- // the parser does not count the byte order mark
		}
		old := scalarAt(a, column)
		if old == nil || old.Value != t.node.Value || old.Style != t.node.Style {
			return false
		}
		if sameNode(a, b, map[*yaml.Node]*target{old: t}) != nil {
			return false
		}
	}
	return true
}

// scalarAt finds the scalar starting at column of line 1 in a parsed line.
func scalarAt(n *yaml.Node, column int) *yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Line == 1 && n.Column == column {
		return n
	}
	for _, c := range n.Content {
		if f := scalarAt(c, column); f != nil {
			return f
		}
	}
	return nil
}

// verify parses the updated content and checks that it holds the same
// documents as before with only the marked values changed.
func verify(before []*yaml.Node, out []byte, splices []splice) error {
	after, err := parseDocuments(out)
	if err != nil {
		return err
	}
	if len(after) != len(before) {
		return fmt.Errorf("%d documents instead of %d", len(after), len(before))
	}
	set := make(map[*yaml.Node]*target, len(splices))
	for _, sp := range splices {
		set[sp.target.node] = sp.target
	}
	for i := range before {
		if err := sameNode(before[i], after[i], set); err != nil {
			return err
		}
	}
	return nil
}

func sameNode(a, b *yaml.Node, set map[*yaml.Node]*target) error {
	if a.Kind != b.Kind || len(a.Content) != len(b.Content) || a.Anchor != b.Anchor ||
		a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment {
		return fmt.Errorf("structure changed near line %d", a.Line)
	}
	if t, ok := set[a]; ok {
		if b.Value != t.value {
			return fmt.Errorf("line %d reads %q, not %q", a.Line, b.Value, t.value)
		}
		wantTag := "!!str"
		if a.Style&yaml.TaggedStyle != 0 {
			wantTag = a.Tag
		}
		if b.Tag != wantTag {
			return fmt.Errorf("line %d reads as %s, not %s", a.Line, b.Tag, wantTag)
		}
	} else if a.Value != b.Value || a.Tag != b.Tag || a.Style != b.Style {
		return fmt.Errorf("value on line %d changed", a.Line)
	}
	for i := range a.Content {
		if err := sameNode(a.Content[i], b.Content[i], set); err != nil {
			return err
		}
	}
	return nil
}

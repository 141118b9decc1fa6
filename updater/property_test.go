package updater

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// genMarked is a marked scalar in generated YAML: its bytes and the marker.
type genMarked struct {
	start, end int
	old        string
	ref        string // the marker's "$imagepolicy" value
}

// yamlGen writes random YAML with random setter markers.
type yamlGen struct {
	r      *rand.Rand
	b      bytes.Buffer
	nl     string
	indent int
	marked []genMarked
	line   int
}

var genWords = []string{"web", "1.0", "ghcr.io/org/app:1.2.3", "x", "true", "10", "a b", "it's", `q"t`, "ü", "#x", "-rc", "a,b", "2024-01-02", "~", ""}

var genPolicyRefs = []string{"apps:web", "apps:web:tag", "apps:web:name", "apps:api", "apps:api:digest", ":web:tag", "web", "other:nope", "apps:web:bad"}

func (g *yamlGen) scalar(flow bool) (tok, val string) {
	s := genWords[g.r.IntN(len(genWords))]
	switch g.r.IntN(3) {
	case 0:
		if !needsQuotes(s, flow) {
			return s, s
		}
		fallthrough
	case 1:
		return doubleQuoted(s), s
	default:
		return singleQuoted(s), s
	}
}

func (g *yamlGen) newline() {
	g.b.WriteString(g.nl)
	g.line++
}

// endLine ends a line that holds a scalar, maybe with a marker or a
// comment; start and end are the scalar's bytes.
func (g *yamlGen) endLine(start, end int, val string) {
	switch g.r.IntN(4) {
	case 0, 1:
		ref := genPolicyRefs[g.r.IntN(len(genPolicyRefs))]
		g.marked = append(g.marked, genMarked{start: start, end: end, old: val, ref: ref})
		g.b.WriteString(strings.Repeat(" ", 1+g.r.IntN(3)))
		fmt.Fprintf(&g.b, `# {"$imagepolicy": %q}`, ref)
	case 2:
		g.b.WriteString(" # a comment: with [brackets], 'quotes' and #hash")
	}
	g.newline()
}

func (g *yamlGen) pad(depth int) string { return strings.Repeat(" ", depth*g.indent) }

func (g *yamlGen) mapping(depth int) {
	n := 1 + g.r.IntN(4)
	for i := range n {
		if g.r.IntN(6) == 0 {
			g.b.WriteString(g.pad(depth) + "# own-line comment")
			g.newline()
		}
		if g.r.IntN(8) == 0 {
			g.newline()
		}
		key := fmt.Sprintf("k%d", i)
		g.b.WriteString(g.pad(depth) + key + ":")
		g.value(depth)
	}
}

func (g *yamlGen) sequence(depth int) {
	n := 1 + g.r.IntN(3)
	for range n {
		g.b.WriteString(g.pad(depth) + "-")
		if depth < 3 && g.r.IntN(4) == 0 {
			g.newline()
			g.mapping(depth + 1)
			continue
		}
		g.b.WriteByte(' ')
		tok, val := g.scalar(false)
		start := g.b.Len()
		g.b.WriteString(tok)
		g.endLine(start, g.b.Len(), val)
	}
}

// value writes what follows "key:".
func (g *yamlGen) value(depth int) {
	k := g.r.IntN(10)
	switch {
	case depth < 3 && k == 0:
		g.newline()
		g.mapping(depth + 1)
	case depth < 3 && k == 1:
		g.newline()
		g.sequence(depth + g.r.IntN(2))
	case k == 2: // a one-line flow sequence
		g.b.WriteString(" [")
		for i := range 1 + g.r.IntN(3) {
			if i > 0 {
				g.b.WriteString(", ")
			}
			tok, _ := g.scalar(true)
			g.b.WriteString(tok)
		}
		g.b.WriteString("]")
		g.newline()
	case k == 3: // a multi-line flow sequence with markers per item
		g.b.WriteString(" [")
		g.newline()
		n := 1 + g.r.IntN(3)
		for i := range n {
			g.b.WriteString(g.pad(depth + 1))
			tok, val := g.scalar(true)
			start := g.b.Len()
			g.b.WriteString(tok)
			end := g.b.Len()
			if i < n-1 {
				g.b.WriteByte(',')
			}
			g.endLine(start, end, val)
		}
		g.b.WriteString(g.pad(depth) + "]")
		g.newline()
	case k == 4: // the value on the line after a marked key
		tok, val := g.scalar(false)
		ref := genPolicyRefs[g.r.IntN(len(genPolicyRefs))]
		fmt.Fprintf(&g.b, ` # {"$imagepolicy": %q}`, ref)
		g.newline()
		g.b.WriteString(g.pad(depth + 1))
		start := g.b.Len()
		g.b.WriteString(tok)
		g.marked = append(g.marked, genMarked{start: start, end: g.b.Len(), old: val, ref: ref})
		g.newline()
	default:
		g.b.WriteByte(' ')
		tok, val := g.scalar(false)
		start := g.b.Len()
		g.b.WriteString(tok)
		g.endLine(start, g.b.Len(), val)
	}
}

func genYAML(r *rand.Rand) ([]byte, []genMarked) {
	g := &yamlGen{r: r, nl: "\n", indent: 2 + 2*r.IntN(2)}
	if r.IntN(4) == 0 {
		g.nl = "\r\n"
	}
	for d := range 1 + r.IntN(3) {
		if d > 0 || r.IntN(2) == 0 {
			g.b.WriteString("---")
			g.newline()
		}
		g.mapping(0)
	}
	out := g.b.Bytes()
	if r.IntN(5) == 0 {
		out = bytes.TrimRight(out, "\r\n")
	}
	return out, g.marked
}

var propPolicies = map[string]Ref{
	"apps/web": {Name: "ghcr.io/org/web", Tag: "1.10"},
	"apps/api": {Name: "reg.example/api", Tag: "true", Digest: "sha256:0123"},
}

// TestPropertyOnlyMarkedBytesChange generates random YAML with random
// markers and checks that the output parses and differs from the input
// only inside the marked scalars, which read back as the new values.
func TestPropertyOnlyMarkedBytesChange(t *testing.T) {
	iterations := 2000
	if testing.Short() {
		iterations = 200
	}
	res := &resolver{policies: propPolicies, defaultNamespace: "apps"}
	// One scratch for every file, as a worker has: what one file leaves in
	// it must not change the next file's result.
	sc := &scratch{}
	for i := range iterations {
		r := rand.New(rand.NewPCG(uint64(i), 42))
		src, marked := genYAML(r)
		if _, err := parseDocuments(src); err != nil {
			t.Fatalf("seed %d: generated YAML does not parse: %v\n%s", i, err, src)
		}
		fe := rewriteWith("gen.yaml", src, res, sc)
		if fresh := rewrite("gen.yaml", src, res); !bytes.Equal(fe.out, fresh.out) || !reflect.DeepEqual(fe.diags, fresh.diags) {
			t.Fatalf("seed %d: a reused scratch gives %q and %v, a fresh one %q and %v", i, fe.out, fe.diags, fresh.out, fresh.diags)
		}
		for _, d := range fe.diags {
			if d.Severity == SeverityError {
				t.Fatalf("seed %d: %v\n%s", i, d, src)
			}
		}
		out := fe.out
		if out == nil {
			out = src
		}
		if _, err := parseDocuments(out); err != nil {
			t.Fatalf("seed %d: output does not parse: %v\n%s", i, err, out)
		}
		// Walk the input outside the marked scalars and find each piece,
		// in order, in the output; between them must be the new values.
		pos, prev := 0, 0
		for j, m := range marked {
			if !bytes.HasPrefix(out[pos:], src[prev:m.start]) {
				t.Fatalf("seed %d: bytes before marked value %d changed\ninput:\n%s\noutput:\n%s", i, j, src, out)
			}
			pos += m.start - prev
			next := len(src)
			if j+1 < len(marked) {
				next = marked[j+1].start
			}
			rest := src[m.end:next]
			k := bytes.Index(out[pos:], rest)
			if j == len(marked)-1 {
				k = len(out) - pos - len(rest)
				if k < 0 || !bytes.HasSuffix(out, rest) {
					k = -1
				}
			}
			if k < 0 {
				t.Fatalf("seed %d: bytes after marked value %d changed\ninput:\n%s\noutput:\n%s", i, j, src, out)
			}
			tok := out[pos : pos+k]
			want := expectedValue(m, res)
			var got string
			if err := yaml.Unmarshal(append([]byte("v: "), tok...), &struct {
				V *string `yaml:"v"`
			}{V: &got}); err != nil || got != want {
				t.Fatalf("seed %d: marked value %d is %q (reads %q, %v), want %q\ninput:\n%s\noutput:\n%s", i, j, tok, got, err, want, src, out)
			}
			if want == m.old && string(tok) != string(src[m.start:m.end]) {
				t.Fatalf("seed %d: unchanged value %d was rewritten as %q", i, j, tok)
			}
			pos += k
			prev = m.end
		}
		if !bytes.Equal(out[pos:], src[prev:]) {
			t.Fatalf("seed %d: bytes after the last marked value changed\ninput:\n%s\noutput:\n%s", i, src, out)
		}
	}
}

// expectedValue is what a marked scalar should hold after the update.
func expectedValue(m genMarked, res *resolver) string {
	mk, err := parseMarkerRef(m.ref)
	if err != nil {
		return m.old
	}
	ref, ok := res.policies[mk.Policy(res.defaultNamespace)]
	if !ok {
		return m.old
	}
	v, ok := ref.value(mk.Field)
	if !ok {
		return m.old
	}
	return v
}

// FuzzRewrite checks that rewrite never panics and never returns content
// that does not parse, whatever the input.
func FuzzRewrite(f *testing.F) {
	for i := range 20 {
		src, _ := genYAML(rand.New(rand.NewPCG(uint64(i), 7)))
		f.Add(src)
	}
	f.Add([]byte("a: &x !!str b # {\"$imagepolicy\": \"apps:web\"}\n"))
	res := &resolver{policies: propPolicies, defaultNamespace: "apps"}
	f.Fuzz(func(t *testing.T, src []byte) {
		fe := rewrite("f.yaml", src, res)
		if fe.out == nil {
			return
		}
		if _, err := parseDocuments(fe.out); err != nil {
			t.Fatalf("rewrite returned content that does not parse: %v\n%q", err, fe.out)
		}
	})
}

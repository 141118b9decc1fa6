package commitmsg

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/Masterminds/sprig/v3"
)

// DefaultMessage is rendered for an empty template, as in Flux.
const DefaultMessage = "Update from image update automation"

// MaxOutput is the largest rendered message, in bytes.
const MaxOutput = 1 << 20

// ErrTooLong is returned (wrapped) when a rendering exceeds MaxOutput.
var ErrTooLong = errors.New("rendered text longer than 1 MiB")

// RemovedFieldError reports a template field that Flux's v1 API removed.
type RemovedFieldError struct {
	Field string // as written, e.g. ".Updated.Images"
	Use   string // what to use instead
	Line  int    // 1-based line in the template, 0 if unknown
}

func (e *RemovedFieldError) Error() string {
	loc := ""
	if e.Line > 0 {
		loc = fmt.Sprintf(" (line %d)", e.Line)
	}
	return fmt.Sprintf("template field %s%s was removed in the v1 API; use %s", e.Field, loc, e.Use)
}

// removed maps a field chain prefix (from the template's dot or $) to advice.
var removed = []struct {
	chain []string
	use   string
}{
	{[]string{"Updated"}, ".Changed.FileChanges, .Changed.Objects or .Changed.Changes"},
	{[]string{"Changed", "ImageResult"}, ".Changed.FileChanges, .Changed.Objects or .Changed.Changes"},
}

// Template is a parsed message template.
type Template struct {
	t *template.Template
}

// Parse parses text with Sprig's hermetic functions. An empty text parses as
// DefaultMessage. Fields removed from Flux's API fail here with a
// *RemovedFieldError.
func Parse(name, text string) (*Template, error) {
	if strings.TrimSpace(text) == "" {
		text = DefaultMessage
	}
	t, err := template.New(name).Funcs(sprig.HermeticTxtFuncMap()).Option("missingkey=default").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parsing template %s: %w", name, err)
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if err := checkRemoved(tt.Tree, text); err != nil {
			return nil, fmt.Errorf("parsing template %s: %w", name, err)
		}
	}
	return &Template{t: t}, nil
}

// Execute renders the template over data.
func (t *Template) Execute(data Data) (string, error) {
	var b limitedBuilder
	if err := t.t.Execute(&b, data); err != nil {
		for _, f := range []string{"Updated", "ImageResult"} {
			if strings.Contains(err.Error(), "can't evaluate field "+f+" ") {
				err = &RemovedFieldError{Field: "." + f, Use: removed[0].use}
			}
		}
		return "", fmt.Errorf("rendering template %s: %w", t.t.Name(), err)
	}
	return b.String(), nil
}

// Render parses and executes text in one step.
func Render(name, text string, data Data) (string, error) {
	t, err := Parse(name, text)
	if err != nil {
		return "", err
	}
	return t.Execute(data)
}

type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxOutput {
		return 0, ErrTooLong
	}
	return b.Builder.Write(p)
}

func checkRemoved(tree *parse.Tree, text string) error {
	var found error
	var walk func(n parse.Node)
	check := func(chain []string, pos parse.Pos, written string) {
		if found != nil {
			return
		}
		for _, r := range removed {
			if len(chain) >= len(r.chain) && equal(chain[:len(r.chain)], r.chain) {
				found = &RemovedFieldError{Field: written, Use: r.use, Line: 1 + strings.Count(text[:min(int(pos), len(text))], "\n")}
				return
			}
		}
	}
	walk = func(n parse.Node) {
		if n == nil || found != nil {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			check(n.Ident, n.Position(), "."+strings.Join(n.Ident, "."))
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				check(n.Ident[1:], n.Position(), strings.Join(n.Ident, "."))
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walkBranch(&n.BranchNode, walk)
		case *parse.RangeNode:
			walkBranch(&n.BranchNode, walk)
		case *parse.WithNode:
			walkBranch(&n.BranchNode, walk)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	walk(tree.Root)
	return found
}

func walkBranch(b *parse.BranchNode, walk func(parse.Node)) {
	walk(b.Pipe)
	walk(b.List)
	if b.ElseList != nil {
		walk(b.ElseList)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

package updater

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"
)

// FuzzQuoting checks that every quoted form reads back as the string, in
// block and flow context.
func FuzzQuoting(f *testing.F) {
	for _, s := range []string{"1.10", "a\"b\\c", "it's", "tab\there", "nl\nx", "\x00\x7f\u0085\u2028\ufeff", "ü", "a,b", "- x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		for _, flow := range []bool{false, true} {
			for name, tok := range map[string]string{"plain": plainToken(s, flow), "single": singleQuoted(s), "double": doubleQuoted(s)} {
				var doc string
				if flow {
					doc = "[" + tok + ", x]"
				} else {
					doc = "k: " + tok + " # c\n"
				}
				var n yaml.Node
				if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
					t.Fatalf("%s token %q of %q does not parse: %v", name, tok, s, err)
				}
				v := n.Content[0].Content[0]
				if !flow {
					v = n.Content[0].Content[1]
				}
				if v.Kind != yaml.ScalarNode || v.Value != s || v.Tag != "!!str" {
					t.Fatalf("%s token %q reads as %s %q, want !!str %q", name, tok, v.Tag, v.Value, s)
				}
			}
		}
	})
}

func TestLineStarts(t *testing.T) {
	got := lineStarts([]byte("a\nb\r\nc\rd\u0085e\u2028f"))
	want := []int{0, 2, 5, 7, 10, 14}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lineStarts (-want +got):\n%s", diff)
	}
}

func TestRewriteOldLineEndings(t *testing.T) {
	src := "a: 1\rimage: ghcr.io/org/web:1.0 # {\"$imagepolicy\": \"apps:web\"}\rb: 2\r"
	fe := rewrite("cr.yaml", []byte(src), &resolver{policies: webPolicies, defaultNamespace: "apps"})
	want := strings.Replace(src, "web:1.0 ", "web:1.10 ", 1)
	if string(fe.out) != want {
		t.Errorf("rewrite of a CR file = %q, want %q (diagnostics %v)", fe.out, want, fe.diags)
	}
}

// TestVerifyCatchesBadSplices checks the last defence: content whose
// structure or values differ from what the splices intended is refused.
func TestVerifyCatchesBadSplices(t *testing.T) {
	src := []byte("a: x # c\nb: [y, z]\n")
	docs, err := parseDocuments(src)
	if err != nil {
		t.Fatal(err)
	}
	x := docs[0].Content[0].Content[1]
	sp := []splice{{target: &target{node: x, value: "new"}}}
	for _, out := range []string{
		"a: new # c\nb: [y, z]\n", // good
		"a: new # c\nb: [y, z, w]\n",
		"a: new # d\nb: [y, z]\n",
		"a: other # c\nb: [y, z]\n",
		"a: 1.10 # c\nb: [y, z]\n",
		"a: new # c\nb: [y, q]\n",
		"a: new # c\n---\nb: [y, z]\n",
		"a: [new # c\n",
	} {
		err := verify(docs, []byte(out), sp)
		if good := out == "a: new # c\nb: [y, z]\n"; good != (err == nil) {
			t.Errorf("verify(%q) = %v, want error %v", out, err, !good)
		}
	}
}

func TestResultErrors(t *testing.T) {
	r := Result{Diagnostics: []Diagnostic{
		{File: "a", Severity: SeverityNote, Message: "n"},
		{File: "b", Line: 3, Severity: SeverityError, Message: "e"},
	}}
	if diff := cmp.Diff(r.Diagnostics[1:], r.Errors()); diff != "" {
		t.Errorf("Errors() (-want +got):\n%s", diff)
	}
	if got := r.Diagnostics[1].String(); got != "b:3: error: e" {
		t.Errorf("String() = %q", got)
	}
	id := ObjectIdentifier{APIVersion: "v1", Kind: "Pod", Namespace: "ns", Name: "p"}
	if id.GetAPIVersion() != "v1" || id.GetKind() != "Pod" || id.GetNamespace() != "ns" || id.GetName() != "p" || id.String() != "Pod ns/p" {
		t.Errorf("ObjectIdentifier accessors of %+v", id)
	}
}

// TestVerifyLines checks the cheap per-line check: it accepts a one-line
// block scalar replaced by a token that reads as the new value, and declines
// (so that the whole file is checked) everything else.
func TestVerifyLines(t *testing.T) {
	tests := []struct {
		name, src, text, value string
		want                   bool
	}{
		{"plain value", "a:\n  image: x:1 # c\nb: 2\n", "x:2", "x:2", true},
		{"quoted value", "- image: \"x:1\" # c\n", `"x:2"`, "x:2", true},
		{"sequence item", "images:\n  - x:1 # c\n", "x:2", "x:2", true},
		{"CRLF line", "a: x:1 # c\r\nb: 2\r\n", "x:2", "x:2", true},
		{"token that reads as another value", "a: x:1 # c\n", "x:2", "x:3", false},
		{"token that changes the structure", "a: x:1 # c\n", "k: v", "k: v", false},
		{"token that swallows the comment", "a: x:1 # c\n", "\"x:2", "x:2", false},
		{"flow collection", "a: [x:1] # c\n", "x:2", "x:2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.src)
			docs, err := parseDocuments(src)
			if err != nil {
				t.Fatal(err)
			}
			old := "x:1"
			var node *yaml.Node
			var find func(n *yaml.Node)
			find = func(n *yaml.Node) {
				if n.Kind == yaml.ScalarNode && n.Value == old && node == nil {
					node = n
				}
				for _, c := range n.Content {
					find(c)
				}
			}
			find(docs[0])
			if node == nil {
				t.Fatalf("no scalar %q in %q", old, tt.src)
			}
			tg := &target{node: node, line: node.Line, flow: strings.Contains(tt.src, "["), value: tt.value}
			sp, msg := locate(src, lineStarts(src), tg)
			if msg != "" {
				t.Fatalf("locate: %s", msg)
			}
			sp.text = tt.text
			if got := verifyLines(src, lineStarts(src), []splice{sp}, &scratch{}); got != tt.want {
				t.Errorf("verifyLines(%q with %q) = %v, want %v", tt.src, tt.text, got, tt.want)
			}
		})
	}
}

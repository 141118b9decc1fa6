// Package manifest loads the objects dockhand works on from YAML files, for
// running without a cluster: ImageRepository, ImagePolicy and
// ImageUpdateAutomation of image.dockhand.dev/v1 or Flux's
// image.toolkit.fluxcd.io/v1, Flux GitRepository objects, Secrets, and the
// ServiceAccounts (imagePullSecrets) and Namespaces (labels, for
// spec.accessFrom) the image objects refer to.
//
// Files may hold several documents and kind: List objects; documents of other
// kinds (Deployments, Kustomizations, ...) are skipped, so a whole
// repository of manifests can be given. Every object of ours is defaulted and
// validated with the CRDs' own schema and CEL rules (package crdschema), and
// every problem is reported with the file and line it comes from, so a user
// can fix them all before anything runs.
package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsyaml "sigs.k8s.io/yaml"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/crdschema"
)

// API groups and versions read from files.
const (
	FluxImageAPIVersion  = "image.toolkit.fluxcd.io/v1"
	FluxSourceAPIVersion = "source.toolkit.fluxcd.io/v1"
)

var ourAPIVersion = imagev1.GroupVersion.String()

// Source is where an object was read from.
type Source struct {
	File string
	Line int
}

func (s Source) String() string {
	if s.Line == 0 {
		return s.File
	}
	return s.File + ":" + strconv.Itoa(s.Line)
}

// Problem is one thing wrong with the input, located in a file.
type Problem struct {
	Source
	// Object is "Kind namespace/name" when the problem belongs to one
	// object, empty for problems with a whole file.
	Object  string
	Message string
}

func (p Problem) Error() string {
	if p.Object == "" {
		return p.Source.String() + ": " + p.Message
	}
	return p.Source.String() + ": " + p.Object + ": " + p.Message
}

// Objects is everything Load found.
type Objects struct {
	Repositories    []*imagev1.ImageRepository
	Policies        []*imagev1.ImagePolicy
	Automations     []*imagev1.ImageUpdateAutomation
	GitRepositories []*unstructured.Unstructured
	Secrets         []*corev1.Secret
	ServiceAccounts []*corev1.ServiceAccount
	Namespaces      []*corev1.Namespace

	sources map[string]Source
}

// SourceOf returns where the object of kind in namespace with name was read.
func (o *Objects) SourceOf(kind, namespace, name string) (Source, bool) {
	s, ok := o.sources[objectKey(kind, namespace, name)]
	return s, ok
}

func objectKey(kind, namespace, name string) string {
	return kind + " " + namespace + "/" + name
}

// Options tune Load. The zero value is usable.
type Options struct {
	// DefaultNamespace is given to objects without metadata.namespace.
	// Empty means "default", as kubectl does.
	DefaultNamespace string
	// Validator checks our kinds; nil means one built from the embedded
	// CRDs (crdschema.New).
	Validator *crdschema.Validator
	// OnFile, when set, is given each file's path and contents as Load
	// reads them, in the order of Files (a caller fingerprinting what was
	// loaded need not read the files again). Default nil.
	OnFile func(path string, raw []byte)
}

// Load reads every .yaml, .yml and .json file under paths (files or
// directories, walked recursively, skipping hidden directories). It returns
// the valid objects and a problem for each invalid document or object; the
// error is for paths that cannot be read at all.
func Load(ctx context.Context, paths []string, opts Options) (*Objects, []Problem, error) {
	if opts.DefaultNamespace == "" {
		opts.DefaultNamespace = "default"
	}
	if opts.Validator == nil {
		v, err := crdschema.New()
		if err != nil {
			return nil, nil, fmt.Errorf("loading CRD schemas: %w", err)
		}
		opts.Validator = v
	}
	files, err := Files(paths)
	if err != nil {
		return nil, nil, err
	}
	l := &loader{opts: opts, objs: &Objects{sources: map[string]Source{}}}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", f, err)
		}
		if opts.OnFile != nil {
			opts.OnFile(f, raw)
		}
		l.file(ctx, f, raw)
	}
	return l.objs, l.problems, nil
}

// Files lists the manifest files Load reads: paths that are files, and the
// .yaml, .yml and .json files under paths that are directories (walked in
// lexical order, skipping hidden directories).
func Files(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading manifests: %w", err)
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			switch filepath.Ext(path) {
			case ".yaml", ".yml", ".json":
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walking %s: %w", p, err)
		}
	}
	return files, nil
}

type loader struct {
	opts     Options
	objs     *Objects
	problems []Problem
}

func (l *loader) problem(src Source, object, format string, args ...any) {
	l.problems = append(l.problems, Problem{Source: src, Object: object, Message: fmt.Sprintf(format, args...)})
}

func (l *loader) file(ctx context.Context, name string, raw []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			l.problem(Source{File: name, Line: YAMLErrorLine(err)}, "", "parsing YAML: %v", err)
			return // the decoder cannot resume after a syntax error
		}
		if len(doc.Content) == 0 {
			continue
		}
		l.node(ctx, name, doc.Content[0])
	}
}

// node handles one document or List item.
func (l *loader) node(ctx context.Context, file string, n *yaml.Node) {
	src := Source{File: file, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return // not an object
	}
	apiVersion, kind := scalarField(n, "apiVersion"), scalarField(n, "kind")
	if apiVersion == "" || kind == "" {
		return
	}
	if kind == "List" || (strings.HasSuffix(kind, "List") && mapValue(n, "items") != nil) {
		if items := mapValue(n, "items"); items != nil && items.Kind == yaml.SequenceNode {
			for _, item := range items.Content {
				l.node(ctx, file, item)
			}
		}
		return
	}
	if !relevant(apiVersion, kind) {
		return
	}

	obj, err := toMap(n)
	if err != nil {
		l.problem(src, kind, "decoding: %v", err)
		return
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	if ns, _ := meta["namespace"].(string); ns == "" {
		meta["namespace"] = l.opts.DefaultNamespace
	}
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	label := objectKey(kind, ns, name)

	switch {
	case apiVersion == ourAPIVersion || apiVersion == FluxImageAPIVersion:
		l.imageObject(ctx, src, n, label, obj)
	case apiVersion == FluxSourceAPIVersion && kind == "GitRepository":
		l.gitRepository(src, n, label, obj)
	case apiVersion == "v1" && kind == "Secret":
		l.secret(src, label, obj)
	case apiVersion == "v1" && kind == "ServiceAccount":
		var sa corev1.ServiceAccount
		if l.core(src, label, obj, &sa, &sa.ObjectMeta) {
			l.objs.ServiceAccounts = append(l.objs.ServiceAccounts, &sa)
		}
	case apiVersion == "v1" && kind == "Namespace":
		var ns corev1.Namespace
		if l.core(src, label, obj, &ns, &ns.ObjectMeta) {
			l.objs.Namespaces = append(l.objs.Namespaces, &ns)
		}
	}
}

// relevant reports whether a document is one of the kinds we load.
func relevant(apiVersion, kind string) bool {
	switch apiVersion {
	case ourAPIVersion, FluxImageAPIVersion:
		return kind == "ImageRepository" || kind == "ImagePolicy" || kind == "ImageUpdateAutomation"
	case FluxSourceAPIVersion:
		return kind == "GitRepository"
	case "v1":
		return kind == "Secret" || kind == "ServiceAccount" || kind == "Namespace"
	}
	return false
}

func (l *loader) remember(src Source, label, kind, namespace, name string) bool {
	key := objectKey(kind, namespace, name)
	if prev, dup := l.objs.sources[key]; dup {
		l.problem(src, label, "defined twice (first at %s)", prev)
		return false
	}
	l.objs.sources[key] = src
	return true
}

func (l *loader) imageObject(ctx context.Context, src Source, n *yaml.Node, label string, obj map[string]any) {
	// Our fields are a superset of Flux's: a Flux object is one of ours
	// with another apiVersion.
	obj["apiVersion"] = ourAPIVersion
	if errs := l.opts.Validator.DefaultAndValidate(ctx, obj); len(errs) > 0 {
		for _, e := range errs {
			l.problem(Source{File: src.File, Line: lineOf(n, e.Field, src.Line)}, label, "%s", fieldMessage(e))
		}
		return
	}
	kind, _ := obj["kind"].(string)
	meta := obj["metadata"].(map[string]any)
	ns, name := meta["namespace"].(string), meta["name"].(string)
	var err error
	switch kind {
	case "ImageRepository":
		var o imagev1.ImageRepository
		if err = fromMap(obj, &o); err == nil && l.remember(src, label, kind, ns, name) {
			l.objs.Repositories = append(l.objs.Repositories, &o)
		}
	case "ImagePolicy":
		var o imagev1.ImagePolicy
		if err = fromMap(obj, &o); err == nil && l.remember(src, label, kind, ns, name) {
			l.objs.Policies = append(l.objs.Policies, &o)
		}
	case "ImageUpdateAutomation":
		var o imagev1.ImageUpdateAutomation
		if err = fromMap(obj, &o); err == nil && l.remember(src, label, kind, ns, name) {
			l.objs.Automations = append(l.objs.Automations, &o)
		}
	}
	if err != nil {
		l.problem(src, label, "decoding: %v", err)
	}
}

// gitRepository keeps a Flux GitRepository as it is, after checking the
// fields dockhand reads. Flux's own schema is not ours to enforce.
func (l *loader) gitRepository(src Source, n *yaml.Node, label string, obj map[string]any) {
	u := &unstructured.Unstructured{Object: obj}
	bad := false
	if u.GetName() == "" {
		l.problem(src, label, "metadata.name: Required value")
		bad = true
	}
	url, _, _ := unstructured.NestedString(obj, "spec", "url")
	if url == "" {
		l.problem(Source{File: src.File, Line: lineOf(n, "spec", src.Line)}, label, "spec.url: Required value")
		bad = true
	}
	if bad || !l.remember(src, label, "GitRepository", u.GetNamespace(), u.GetName()) {
		return
	}
	l.objs.GitRepositories = append(l.objs.GitRepositories, u)
}

func (l *loader) secret(src Source, label string, obj map[string]any) {
	var s corev1.Secret
	if err := fromMap(obj, &s); err != nil {
		l.problem(src, label, "decoding: %v", err)
		return
	}
	if s.Name == "" {
		l.problem(src, label, "metadata.name: Required value")
		return
	}
	// stringData wins over data, as the API server merges it on write.
	for k, v := range s.StringData {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
	if l.remember(src, label, "Secret", s.Namespace, s.Name) {
		l.objs.Secrets = append(l.objs.Secrets, &s)
	}
}

// core decodes a core object that needs no more checks than a name, and
// remembers it; false when it is a problem.
func (l *loader) core(src Source, label string, obj map[string]any, into any, meta *metav1.ObjectMeta) bool {
	if err := fromMap(obj, into); err != nil {
		l.problem(src, label, "decoding: %v", err)
		return false
	}
	if meta.Name == "" {
		l.problem(src, label, "metadata.name: Required value")
		return false
	}
	kind, _ := obj["kind"].(string)
	ns := meta.Namespace
	if kind == "Namespace" {
		ns, meta.Namespace = "", "" // not namespaced
	}
	return l.remember(src, label, kind, ns, meta.Name)
}

// fieldMessage renders a field error without repeating the field twice.
func fieldMessage(e *field.Error) string {
	msg := e.Error()
	if e.Field != "" && !strings.HasPrefix(msg, e.Field) {
		return e.Field + ": " + msg
	}
	return msg
}

func scalarField(n *yaml.Node, key string) string {
	if v := mapValue(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineOf finds the line of the field at a path such as "spec.update.path"
// or "spec.exclusionList[2]" (the line of its key, or of the list item), or
// of its nearest existing parent; fallback when the path leads nowhere.
func lineOf(n *yaml.Node, path string, fallback int) int {
	line := fallback
	cur := n
	for _, part := range splitPath(path) {
		var next *yaml.Node
		switch cur.Kind {
		case yaml.SequenceNode:
			if idx, err := strconv.Atoi(part); err == nil && idx >= 0 && idx < len(cur.Content) {
				next = cur.Content[idx]
				line = next.Line
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == part {
					line = cur.Content[i].Line
					next = cur.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			return line
		}
		cur = next
	}
	return line
}

// splitPath turns a field path like a.b[2].c[key] or a["x.y"] into its
// segments: a, b, 2, c, key (and a, x.y).
func splitPath(path string) []string {
	var parts []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			end := strings.IndexByte(path[i:], ']')
			if end < 0 {
				end = len(path) - i
			}
			parts = append(parts, strings.Trim(path[i+1:i+end], `"`))
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return parts
}

// toMap converts a YAML node to the JSON-shaped map the validator and the
// API types expect (numbers as float64/int64, no map[any]any).
func toMap(n *yaml.Node) (map[string]any, error) {
	raw, err := yaml.Marshal(n)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := sigsyaml.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func fromMap(obj map[string]any, into any) error {
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// YAMLErrorLine digs the line out of yaml.v3's "yaml: line N: ..." errors;
// 0 when the error names none.
func YAMLErrorLine(err error) int {
	msg := err.Error()
	const marker = "line "
	i := strings.Index(msg, marker)
	if i < 0 {
		return 0
	}
	rest := msg[i+len(marker):]
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return 0
	}
	line, _ := strconv.Atoi(rest[:end])
	return line
}

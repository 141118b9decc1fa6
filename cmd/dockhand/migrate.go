package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/crdschema"
	"github.com/dockhand-dev/dockhand/internal/manifest"
	"github.com/dockhand-dev/dockhand/updater"
)

// Exit codes of dockhand migrate.
const (
	exitMigrateProblems = 1 // some objects or files could not be migrated
	exitMigrateInvalid  = 2 // bad arguments
)

// fluxImageGroup is Flux's API group for the image kinds.
const fluxImageGroup = "image.toolkit.fluxcd.io"

// migratedVersions are the Flux versions rewritten: v1, and v1beta2, whose
// specs v1 kept unchanged. v1beta1 objects are left for flux to upgrade.
var migratedVersions = []string{fluxImageGroup + "/v1", fluxImageGroup + "/v1beta2"}

var migratedKinds = []string{imagev1.ImageRepositoryKind, imagev1.ImagePolicyKind, imagev1.ImageUpdateAutomationKind}

type migrateOptions struct {
	paths  []string
	dryRun bool
}

func newMigrateCmd() *cobra.Command {
	var opts migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate [PATH...]",
		Short: "Rewrite Flux image automation manifests to image.dockhand.dev/v1",
		Long: `Migrate rewrites the apiVersion of every Flux ImageRepository, ImagePolicy and
ImageUpdateAutomation (image.toolkit.fluxcd.io/v1 or v1beta2) in the files and
directories given (default: the current directory, walked recursively) to
image.dockhand.dev/v1, in place. Only the apiVersion values change: comments,
formatting and every other byte stay as they were. Each object is first
checked against dockhand's CRD; one that does not pass is reported and left
alone. Other mentions of image.toolkit.fluxcd.io (kustomize patch targets,
RBAC rules) are listed for you to check.

Exit status: 0 when everything found was migrated (or nothing needed it),
1 when something could not be, 2 for bad arguments.`,
		Example: `  dockhand migrate ./clusters --dry-run
  dockhand migrate`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.paths = args
			return runMigrate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "print the unified diff and change no file")
	return cmd
}

func runMigrate(ctx context.Context, out, errOut io.Writer, opts migrateOptions) error {
	if len(opts.paths) == 0 {
		opts.paths = []string{"."}
	}
	files, err := manifest.Files(opts.paths)
	if err != nil {
		return &exitError{code: exitMigrateInvalid, msg: err.Error()}
	}
	v, err := crdschema.New()
	if err != nil {
		return err
	}
	problems, objects, changedFiles := 0, 0, 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return &exitError{code: exitMigrateProblems, msg: err.Error()}
		}
		if !bytes.Contains(raw, []byte(fluxImageGroup)) {
			continue
		}
		res := migrateBytes(ctx, v, raw)
		for _, p := range res.problems {
			fmt.Fprintf(errOut, "%s:%d: %s\n", file, p.line, p.msg)
		}
		problems += len(res.problems)
		for _, n := range res.notes {
			fmt.Fprintf(errOut, "%s:%d: note: %s\n", file, n.line, n.msg)
		}
		if res.objects == 0 {
			continue
		}
		objects += res.objects
		changedFiles++
		if opts.dryRun {
			if _, err := io.WriteString(out, unifiedDiff(updater.FileUpdate{Path: displayPath(file), Before: raw, After: res.out})); err != nil {
				return err
			}
			continue
		}
		if err := writeInPlace(file, res.out); err != nil {
			return &exitError{code: exitMigrateProblems, msg: err.Error()}
		}
		fmt.Fprintf(out, "%s: %s migrated\n", displayPath(file), count(res.objects, "object", "objects"))
	}
	verb := "migrated"
	if opts.dryRun {
		verb = "would be migrated"
	}
	fmt.Fprintf(errOut, "%s in %s %s to %s\n", count(objects, "object", "objects"), count(changedFiles, "file", "files"), verb, imagev1.GroupVersion)
	if problems > 0 {
		return &exitError{code: exitMigrateProblems, msg: fmt.Sprintf("%s could not be migrated", count(problems, "object or file", "objects or files"))}
	}
	return nil
}

type migrateNote struct {
	line int
	msg  string
}

type migrateResult struct {
	out      []byte
	objects  int           // objects rewritten
	problems []migrateNote // objects or documents that could not be
	notes    []migrateNote // other mentions of the Flux group
}

// edit replaces old with the new apiVersion at byte offset off.
type edit struct {
	off  int
	old  string
	line int // of the apiVersion, for messages
}

// migrateBytes rewrites the apiVersion of every Flux image object in raw
// by editing bytes at the positions the YAML parser reports, so nothing
// else moves.
func migrateBytes(ctx context.Context, v *crdschema.Validator, raw []byte) migrateResult {
	var res migrateResult
	lines := lineOffsets(raw)
	var edits []edit
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if !errors.Is(err, io.EOF) {
				res.problems = append(res.problems, migrateNote{manifest.YAMLErrorLine(err), "not migrated: parsing YAML: " + err.Error()})
			}
			break
		}
		for _, obj := range objectNodes(&doc) {
			e, prob, ok := migrateObject(ctx, v, raw, lines, obj)
			switch {
			case prob != "":
				res.problems = append(res.problems, migrateNote{e.line, prob})
			case ok:
				edits = append(edits, e)
			}
		}
	}
	// Apply from the end so earlier offsets stay right.
	slices.SortFunc(edits, func(a, b edit) int { return b.off - a.off })
	out := slices.Clone(raw)
	for _, e := range edits {
		out = slices.Concat(out[:e.off], []byte(imagev1.GroupVersion.String()), out[e.off+len(e.old):])
	}
	res.out, res.objects = out, len(edits)
	reported := map[int]bool{}
	for _, p := range res.problems {
		reported[p.line] = true
	}
	for i, l := range bytes.Split(out, []byte("\n")) {
		if bytes.Contains(l, []byte(fluxImageGroup)) && !reported[i+1] {
			res.notes = append(res.notes, migrateNote{i + 1, "still mentions " + fluxImageGroup + " (not an object's apiVersion): check it by hand"})
		}
	}
	return res
}

// objectNodes returns the mapping nodes of a document that are objects:
// the document itself, or the items of a List.
func objectNodes(doc *yaml.Node) []*yaml.Node {
	if len(doc.Content) == 0 {
		return nil
	}
	n := doc.Content[0]
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if kind := mappingValue(n, "kind"); kind != nil && strings.HasSuffix(kind.Value, "List") {
		if items := mappingValue(n, "items"); items != nil && items.Kind == yaml.SequenceNode {
			var out []*yaml.Node
			for _, it := range items.Content {
				if it.Kind == yaml.MappingNode {
					out = append(out, it)
				}
			}
			return out
		}
	}
	return []*yaml.Node{n}
}

// migrateObject checks one object and returns the edit of its apiVersion;
// ok is false for objects that are not Flux image objects.
func migrateObject(ctx context.Context, v *crdschema.Validator, raw []byte, lines []int, n *yaml.Node) (e edit, problem string, ok bool) {
	av, kind := mappingValue(n, "apiVersion"), mappingValue(n, "kind")
	if av == nil || kind == nil || av.Kind != yaml.ScalarNode || !slices.Contains(migratedKinds, kind.Value) {
		return edit{}, "", false
	}
	if !strings.HasPrefix(av.Value, fluxImageGroup+"/") {
		return edit{}, "", false
	}
	label := kind.Value + " " + objectName(n)
	e.line = av.Line
	if !slices.Contains(migratedVersions, av.Value) {
		return e, fmt.Sprintf("%s: not migrated: %s is too old; upgrade it to %s/v1 with flux first", label, av.Value, fluxImageGroup), false
	}
	// Check the object as dockhand's API would.
	body, err := yaml.Marshal(n)
	var obj map[string]any
	if err == nil {
		err = sigsyaml.Unmarshal(body, &obj)
	}
	if err != nil {
		return e, fmt.Sprintf("%s: not migrated: %v", label, err), false
	}
	obj["apiVersion"] = imagev1.GroupVersion.String()
	if meta, ok := obj["metadata"].(map[string]any); ok && meta["namespace"] == nil {
		meta["namespace"] = "default" // validation wants one; the file keeps none
	}
	if errs := v.DefaultAndValidate(ctx, obj); len(errs) > 0 {
		var msgs []string
		for _, fe := range errs {
			msgs = append(msgs, fe.Error())
		}
		return e, fmt.Sprintf("%s: not migrated: invalid as %s: %s", label, imagev1.GroupVersion, strings.Join(msgs, "; ")), false
	}
	off, ok := scalarOffset(raw, lines, av)
	if !ok {
		return e, fmt.Sprintf("%s: not migrated: cannot find its apiVersion %q in the file as written", label, av.Value), false
	}
	e.off, e.old = off, av.Value
	return e, "", true
}

// scalarOffset finds the bytes of a plain or quoted scalar whose value is
// written literally, returning the offset of the value (after any quote).
func scalarOffset(raw []byte, lines []int, n *yaml.Node) (int, bool) {
	if n.Line < 1 || n.Line > len(lines) {
		return 0, false
	}
	off := lines[n.Line-1]
	for range n.Column - 1 { // columns count characters
		_, size := utf8.DecodeRune(raw[off:])
		if size == 0 {
			return 0, false
		}
		off += size
	}
	if off < len(raw) && (raw[off] == '"' || raw[off] == '\'') {
		off++
	}
	if !bytes.HasPrefix(raw[off:], []byte(n.Value)) {
		return 0, false
	}
	return off, true
}

// lineOffsets returns the byte offset at which each line starts.
func lineOffsets(raw []byte) []int {
	offs := []int{0}
	for i, b := range raw {
		if b == '\n' {
			offs = append(offs, i+1)
		}
	}
	return offs
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func objectName(n *yaml.Node) string {
	meta := mappingValue(n, "metadata")
	if meta == nil {
		return "(unnamed)"
	}
	name, ns := "", ""
	if v := mappingValue(meta, "name"); v != nil {
		name = v.Value
	}
	if v := mappingValue(meta, "namespace"); v != nil {
		ns = v.Value + "/"
	}
	return ns + name
}

// writeInPlace replaces the file's content through a temporary file in the
// same directory, keeping its mode.
func writeInPlace(path string, content []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".dockhand-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// displayPath shows a path relative to the working directory when it is
// under it.
func displayPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return p
}

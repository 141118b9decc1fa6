package updater

import (
	"cmp"
	"fmt"
	"slices"
)

// ObjectIdentifier names the Kubernetes object (the YAML document) that a
// change was made in. Its fields are those of Flux's update.ObjectIdentifier
// (which embeds kyaml's ResourceIdentifier), so commit message templates
// such as {{ range $obj, $_ := .Changed.Objects }}{{ $obj.Kind }}
// {{ $obj.Name }}{{ end }} work unchanged. A document that is not a
// Kubernetes object (a Helm values file, a kustomization.yaml without
// apiVersion) has empty fields.
type ObjectIdentifier struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
}

// GetAPIVersion returns o.APIVersion, as kyaml's ResourceIdentifier does.
func (o ObjectIdentifier) GetAPIVersion() string { return o.APIVersion }

// GetKind returns o.Kind.
func (o ObjectIdentifier) GetKind() string { return o.Kind }

// GetNamespace returns o.Namespace.
func (o ObjectIdentifier) GetNamespace() string { return o.Namespace }

// GetName returns o.Name.
func (o ObjectIdentifier) GetName() string { return o.Name }

// String returns "Kind namespace/name" (parts that are empty left out).
func (o ObjectIdentifier) String() string {
	name := o.Name
	if o.Namespace != "" {
		name = o.Namespace + "/" + name
	}
	switch {
	case o.Kind == "":
		return name
	case name == "":
		return o.Kind
	default:
		return o.Kind + " " + name
	}
}

func compareObjects(a, b ObjectIdentifier) int {
	return cmp.Or(
		cmp.Compare(a.APIVersion, b.APIVersion),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
	)
}

// Change is one rewritten value.
type Change struct {
	// OldValue is the value before the update.
	OldValue string `json:"oldValue"`
	// NewValue is the value written.
	NewValue string `json:"newValue"`
	// Setter is the marker's setter in Flux's form, "namespace:name" with
	// an optional ":tag", ":name" or ":digest" suffix; the namespace is
	// filled in when the marker names none.
	Setter string `json:"setter"`
}

// ObjectChanges holds the changes made to each object of a file.
type ObjectChanges map[ObjectIdentifier][]Change

// Result reports what a run changed, in the shape of Flux's update.Result
// so that commit message templates written for Flux keep working, plus
// the diagnostics and statistics of the run.
type Result struct {
	// FileChanges maps each changed file (slash-separated, relative to
	// the root) to the changes made to each object in it, in file order.
	FileChanges map[string]ObjectChanges `json:"-"`

	// Updates lists the files whose content changed, sorted by path, with
	// their content before and after. They were written unless the run
	// was a dry run.
	Updates []FileUpdate `json:"-"`

	// Diagnostics lists the notes and errors of the run, sorted by file
	// and line.
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`

	// Stats counts the work done.
	Stats Stats `json:"stats"`

	// ordered holds the changes in file and document order.
	ordered []fileChange
}

type fileChange struct {
	file string
	obj  ObjectIdentifier
	Change
}

// FileUpdate is one changed file.
type FileUpdate struct {
	// Path is slash-separated and relative to the root.
	Path string
	// Before and After are the whole content of the file.
	Before, After []byte
}

// Stats counts the files a run looked at.
type Stats struct {
	// Read is the number of files read.
	Read int `json:"read"`
	// WithMarkerText is the number of files read that contain the marker
	// text; only those are parsed.
	WithMarkerText int `json:"withMarkerText"`
	// Changed is the number of files whose content changed.
	Changed int `json:"changed"`
	// Written is the number of files written (0 in a dry run).
	Written int `json:"written"`
}

// Changes returns every change made, each distinct change once, in file
// and document order (Flux's Result.Changes).
func (r Result) Changes() []Change {
	seen := make(map[Change]bool)
	var out []Change
	if r.ordered != nil {
		for _, c := range r.ordered {
			if !seen[c.Change] {
				seen[c.Change] = true
				out = append(out, c.Change)
			}
		}
		return out
	}
	for _, file := range r.files() {
		for _, obj := range sortedObjects(r.FileChanges[file]) {
			for _, c := range r.FileChanges[file][obj] {
				if !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// Objects returns the changes made to each object, whichever file it is
// in (Flux's Result.Objects). An object that appears in several files has
// the changes of all of them, in file order.
func (r Result) Objects() ObjectChanges {
	out := make(ObjectChanges)
	if r.ordered != nil {
		for _, c := range r.ordered {
			out[c.obj] = append(out[c.obj], c.Change)
		}
		return out
	}
	for _, file := range r.files() {
		for obj, changes := range r.FileChanges[file] {
			out[obj] = append(out[obj], changes...)
		}
	}
	return out
}

// Files returns the paths of the changed files, sorted.
func (r Result) Files() []string { return r.files() }

func (r Result) files() []string {
	files := make([]string, 0, len(r.FileChanges))
	for f := range r.FileChanges {
		files = append(files, f)
	}
	slices.Sort(files)
	return files
}

func sortedObjects(oc ObjectChanges) []ObjectIdentifier {
	objs := make([]ObjectIdentifier, 0, len(oc))
	for o := range oc {
		objs = append(objs, o)
	}
	slices.SortFunc(objs, compareObjects)
	return objs
}

// Errors returns the diagnostics of severity error.
func (r Result) Errors() []Diagnostic {
	var out []Diagnostic
	for _, d := range r.Diagnostics {
		if d.Severity == SeverityError {
			out = append(out, d)
		}
	}
	return out
}

// Severity tells how bad a diagnostic is.
type Severity string

const (
	// SeverityNote is for markers that were skipped for a reason the
	// user may want to know: a policy outside the set (normal when
	// several automations share a repository), an unknown suffix,
	// malformed JSON, a marked value that cannot be set.
	SeverityNote Severity = "note"
	// SeverityError is for files that could not be updated: a file that
	// fails to parse, cannot be read or written, or would not parse after
	// the update. Such a file is never written.
	SeverityError Severity = "error"
)

// Diagnostic is a note or error about one place in one file.
type Diagnostic struct {
	// File is slash-separated and relative to the root.
	File string `json:"file"`
	// Line is 1-based; 0 when the diagnostic is about the whole file.
	Line     int      `json:"line,omitempty"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// String formats d as "file:line: severity: message".
func (d Diagnostic) String() string {
	if d.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", d.File, d.Line, d.Severity, d.Message)
	}
	return fmt.Sprintf("%s: %s: %s", d.File, d.Severity, d.Message)
}

func compareDiagnostics(a, b Diagnostic) int {
	return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
		cmp.Compare(a.Severity, b.Severity), cmp.Compare(a.Message, b.Message))
}

package commitmsg

import "sort"

// Data is what a template sees as its dot. It mirrors Flux's TemplateData.
type Data struct {
	AutomationObject ObjectKey
	Changed          Result
	Values           map[string]string
}

// ObjectKey names the automation object. It prints as "namespace/name", as
// Kubernetes' NamespacedName does in Flux's templates.
type ObjectKey struct {
	Name      string
	Namespace string
}

// String returns "namespace/name", or just the name without a namespace.
func (k ObjectKey) String() string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

// ObjectIdentifier names one Kubernetes object in a changed file.
type ObjectIdentifier struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

// String returns "Kind namespace/name" (or "Kind name" without a namespace).
func (o ObjectIdentifier) String() string {
	return o.Kind + " " + ObjectKey{Name: o.Name, Namespace: o.Namespace}.String()
}

// Change is one rewritten field: its old and new values and the setter
// (policy reference) that marked it.
type Change struct {
	OldValue string
	NewValue string
	Setter   string
}

// ObjectChanges are the changes made to each object of one file.
type ObjectChanges map[ObjectIdentifier][]Change

// Result is what the updater changed, keyed by file path relative to the
// repository root.
type Result struct {
	FileChanges map[string]ObjectChanges
}

// Objects merges the changes of every file by object.
func (r Result) Objects() map[ObjectIdentifier][]Change {
	out := make(map[ObjectIdentifier][]Change)
	for _, file := range r.files() {
		for obj, changes := range r.FileChanges[file] {
			out[obj] = append(out[obj], changes...)
		}
	}
	return out
}

// Changes lists every change, ordered by file, then object, then as recorded.
func (r Result) Changes() []Change {
	var out []Change
	for _, file := range r.files() {
		objs := r.FileChanges[file]
		ids := make([]ObjectIdentifier, 0, len(objs))
		for id := range objs {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i].less(ids[j]) })
		for _, id := range ids {
			out = append(out, objs[id]...)
		}
	}
	return out
}

func (r Result) files() []string {
	files := make([]string, 0, len(r.FileChanges))
	for f := range r.FileChanges {
		files = append(files, f)
	}
	sort.Strings(files)
	return files
}

func (o ObjectIdentifier) less(p ObjectIdentifier) bool {
	a := [4]string{o.APIVersion, o.Kind, o.Namespace, o.Name}
	b := [4]string{p.APIVersion, p.Kind, p.Namespace, p.Name}
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// Package commitmsg renders commit messages (and pull-request titles and
// bodies) from Go text/template text over the data Flux's
// image-automation-controller offers its message templates, so a Flux user's
// messageTemplate renders the same here.
//
// # Why a package of its own
//
// The data comes from the updater (what changed in which file and object) and
// the message is used by gitpush (which commits it). DESIGN.md keeps library
// packages independent of each other, so neither of them owns the shape: this
// package defines it as plain structs (Data, Result, ObjectIdentifier, Change)
// that the engine fills from the updater's result, renders the text, and
// hands the string to gitpush through its change callback.
//
// # Template data
//
//	.AutomationObject   {Name, Namespace}; prints as "namespace/name"
//	.Values             map[string]string from spec.git.commit.messageTemplateValues
//	.Changed.FileChanges map[file]map[ObjectIdentifier][]Change
//	.Changed.Objects    map[ObjectIdentifier][]Change (all files merged)
//	.Changed.Changes    []Change, each {OldValue, NewValue, Setter}
//
// ObjectIdentifier has APIVersion, Kind, Namespace and Name, as Flux's does.
// Ranging over a map keyed by ObjectIdentifier visits keys in Go's map order
// (text/template sorts only basic key types), exactly as in Flux; .Changed.Changes
// and the FileChanges keys (file names) are sorted.
//
// # Functions
//
// Sprig's hermetic text functions (github.com/Masterminds/sprig/v3
// HermeticTxtFuncMap, the set Flux uses): no clock, randomness or environment,
// so the same data always renders the same message.
//
// # Removed fields
//
// Flux's v1 API removed .Updated and .Changed.ImageResult. A template that
// uses either fails at Parse with a *RemovedFieldError that says what to use
// instead, rather than text/template's "can't evaluate field".
//
// # Defaults and limits
//
// An empty template renders DefaultMessage, Flux's default. Output longer
// than MaxOutput bytes is an error, so a runaway template (say a large
// `repeat`) cannot build an unbounded commit message.
package commitmsg

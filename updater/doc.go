// Package updater rewrites the YAML fields marked with image policy setter
// comments under a directory, and reports exactly what it changed. It does
// no git and no network I/O: it takes a directory and the latest reference
// of each policy, as plain values.
//
// # Markers
//
// A line comment holding a JSON object with an "$imagepolicy" member marks
// the scalar that ends on that line (Flux's setter markers):
//
//	image: ghcr.io/org/app:1.2.3 # {"$imagepolicy": "apps:app"}
//	tag: 1.2.3                   # {"$imagepolicy": "apps:app:tag"}
//
// "NAMESPACE:NAME" sets the whole reference, name:tag, or name:tag@digest
// when the policy reflects a digest (digest pinning); a ":tag", ":name" or
// ":digest" suffix sets one part. As an extension, "NAME" alone (or
// ":NAME[:SUFFIX]") means the default namespace, normally the automation's
// own (see WithDefaultNamespace). Two parts are always NAMESPACE:NAME. A
// marker after "key:" whose value starts on the next line marks that
// value. Markers work in any YAML: workloads, HelmRelease values, Helm
// values files, kustomization images, multi-document files, flow style.
//
// # Only the marked bytes change
//
// Files are parsed (go.yaml.in/yaml/v3) only to find the marked scalars;
// the new values are then spliced into the original bytes, so comments,
// blank lines, indentation, key order, the quoting of other values, line
// endings and the final newline all stay as they were. A plain value that
// would read as something other than the same string (1.10, true, yes,
// 2024-01-02) is written in double quotes; a quoted value keeps its quote
// style. Before a file is written it is parsed again and must hold the same
// documents with only the marked values changed; otherwise it is left
// alone and the run reports an error.
//
// # Files
//
// Apply looks at files named *.yaml, *.yml and Kustomization under the
// root, or under the directory given by WithPath. A file whose bytes do not
// contain "$imagepolicy" is never parsed. Directories named .git are
// skipped; .sourceignore files (gitignore syntax, in any directory, for
// that directory and below) exclude paths. Symlinks are never followed
// (a symlink to a file inside the root is left to that file's own entry);
// a path that escapes the root by "..", by being absolute or through a
// symlink is an error. Files are written atomically (a temporary file in
// the same directory, renamed over the original) and keep their mode. All
// paths in results are slash-separated and relative to the root.
//
// # Diagnostics
//
// Problems are reported in Result.Diagnostics with file and line and do
// not stop the other files. Markers for policies outside the given set are
// normal (several automations share a repository, each with its own
// policies), as are malformed markers, unknown suffixes and marks on
// mappings, sequences, aliases or block scalars: they are notes. A file
// that fails to parse, cannot be read or written, or would not read back
// as intended is an error, and is never written.
//
// # Results
//
// Result matches the template data of Flux's commit messages: FileChanges
// maps file to object to changes, Objects() and Changes() give the changes
// by object and flat, and ObjectIdentifier has Flux's APIVersion, Kind,
// Namespace and Name fields.
//
// # Speed
//
// A cold run reads every file in parallel (WithWorkers), searches the bytes
// for the marker text and parses only the files that have it. A warm run
// (WithIndex and WithChangedPaths) reads only the paths changed since the
// last run and the files whose markers name a policy whose reference
// changed; the Index remembers, per path, the git blob hash, whether it
// has markers and which policies they name. See docs/benchmarks.md.
package updater

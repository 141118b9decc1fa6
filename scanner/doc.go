// Package scanner talks to container registries: it lists the tags of an
// image repository (every page, following Link headers), resolves manifest
// digests, authenticates (anonymous, docker config, basic, bearer tokens and
// the cloud providers' token exchanges), and keeps the result of each scan in
// a TagStore backed by bbolt.
//
// It imports no Kubernetes client code: callers hand it an image reference,
// credentials and transport settings as plain Go values.
//
// The package is being built under the scanner issue; until it lands it holds
// only this description.
package scanner

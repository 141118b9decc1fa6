// Package policy selects the latest tag of an image from a list of tags, as
// an ImagePolicy describes it. It is pure: tags in, a tag and diagnostics
// out, no I/O, and no Kubernetes types (callers map an ImagePolicy spec to
// options).
//
//	p, err := policy.New(policy.WithSemVer(">=1.0.0"))
//	...
//	res, err := p.Select(tags)
//	// res.Tag: "v1.4.2"; res.Diagnostics.String(): "3 of 40 tags ignored: ..."
//
// # Compatibility
//
// Wherever Flux's image-reflector-controller (image.toolkit.fluxcd.io/v1)
// selects a tag, this package selects the same one, with two exceptions:
// ties between equal candidates, which Flux settles by the order the
// registry lists tags and this package by the tags themselves (see Ties);
// and specs that Flux accepts but that cannot mean what they say (more than
// one of semver, alphabetical and numerical, or an extract template naming
// a group the pattern lacks), which are errors here. Where Flux fails
// because some tags do not fit (a numerical policy and one tag that is not
// a number), this package selects among the tags that fit and counts the
// others in the Diagnostics.
//
// # Filter and extract
//
// WithFilterTags (spec.filterTags) keeps the tags its pattern, a Go regular
// expression, matches; the match need not cover the whole tag. Its extract
// template ("$ts", "${1}", "v$major.$minor") is expanded from the match, as
// regexp's Expand does, into the value the policy orders; the tag is still
// what is selected. A template naming a group the pattern lacks is a
// *SpecError (Flux would silently expand it to nothing). An empty template
// means no extraction. A template that expands to the empty string gives the
// empty value: not a version, not a number, and the first value in byte
// order, as in Flux.
//
// # SemVer
//
// WithSemVer (spec.policy.semver) takes a Masterminds/semver/v3 range. A
// value is a candidate when, after dropping one leading "v", it is a strict
// semantic version of at most 256 bytes (so "1.2" and "V1.2.3" are not),
// and the range admits it. A pre-release is admitted only by a part of the
// range (between "||") that has a pre-release itself, such as ">=1.0.0-0":
// ">=1.0.0" never selects 1.1.0-rc.1. The highest version by semver
// precedence wins; build metadata does not count.
//
// # Alphabetical and numerical
//
// WithAlphabetical (spec.policy.alphabetical) compares values byte by byte:
// Ascending, the default, selects the last, Descending the first.
// WithNumerical (spec.policy.numerical) parses values with
// strconv.ParseFloat: Ascending, the default, selects the highest,
// Descending the lowest. Values that do not parse, NaN, and values beyond
// float64's range are ignored, where Flux fails the whole policy; "inf"
// parses, and is the highest number, as in Flux.
//
// # Ties
//
// The selected tag does not depend on the order of the input. When two
// candidates rank equal:
//
//   - semver: of equal versions with different text (1.2.3 and v1.2.3,
//     1.2.3 and 1.2.3+build.1), the value that is first in byte order wins:
//     1.2.3 beats both.
//   - numerical: of equal numbers with different text (1 and 1.0), the
//     value that is last in byte order wins: 1.0.
//   - any policy: when several tags extract the same value, the tag that is
//     last in byte order wins.
//
// Flux keeps the first of equal versions and the last of equal numbers
// and extracted values it meets, in the order the registry lists the tags;
// for registries that list tags in byte order, as CNCF Distribution does,
// these rules select what Flux selects.
//
// # Diagnostics
//
// Every Result carries Diagnostics: how many tags were given, how many were
// candidates, and for each reason tags were left out (ReasonNoFilterMatch,
// ReasonNotSemVer, ReasonPreRelease, ReasonOutsideRange, ReasonNotNumber) a
// count and the first few such tags, so that a status can read "37 of 40
// tags ignored: not semantic versions (e.g. latest, main-abc1234, dev)".
//
// # Errors
//
// New returns a *SpecError, naming the field (spec.policy,
// spec.policy.semver.range, spec.policy.alphabetical.order,
// spec.policy.numerical.order, spec.filterTags.pattern,
// spec.filterTags.extract), for a spec that cannot work; retrying does not
// help. Select returns a *NoTagError, carrying the Diagnostics, when no tag
// qualifies. Test for both with errors.As.
//
// # Speed
//
// Select makes one pass over the tags without sorting and keeps only the
// best candidate so far. Versions are parsed in place and checked against
// the range by comparators compiled once from Masterminds' reading of it,
// so a version costs no allocation. Patterns of the usual shape (literals,
// classes, anchors and groups, with only single characters repeating, such
// as ^main-[a-f0-9]+-(?P<ts>[0-9]+)$) run on ASCII tags without the regexp
// engine; other patterns and tags go through the regexp package, which
// allocates per match. An extract template that is one group reference
// ("$ts") takes a substring of the tag; any other template costs one string
// per matching tag. On 100,000 tags a selection takes a few milliseconds;
// docs/benchmarks.md has the figures.
package policy

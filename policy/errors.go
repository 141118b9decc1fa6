package policy

import "fmt"

// SpecError reports a policy that cannot work as written: a range that does
// not parse, a pattern that does not compile, an unknown order, an extract
// template naming a group the pattern lacks, or no policy at all. Field is
// the path of the offending ImagePolicy field, such as
// "spec.policy.semver.range" or "spec.filterTags.pattern". Retrying does not
// help; the spec must change.
type SpecError struct {
	Field string
	Value string // the offending value, "" when the field is missing
	Err   error  // the cause, when another package reported it
}

func (e *SpecError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("%s: invalid value %q: %v", e.Field, e.Value, e.Err)
}

func (e *SpecError) Unwrap() error { return e.Err }

// NoTagError reports that no tag passed the filter and the policy. Its
// message says why, from the Diagnostics, e.g. "no tag qualifies: all 12
// tags ignored: not semantic versions (e.g. latest, main, dev)".
type NoTagError struct {
	Diagnostics Diagnostics
}

func (e *NoTagError) Error() string {
	if e.Diagnostics.Tags == 0 {
		return "no tag qualifies: there are no tags"
	}
	return "no tag qualifies: " + e.Diagnostics.String()
}

package policy_test

import (
	"errors"
	"fmt"

	"github.com/dockhand-dev/dockhand/policy"
)

func Example() {
	p, err := policy.New(policy.WithSemVer(">=1.0.0"))
	if err != nil {
		panic(err) // a *policy.SpecError: the spec must change
	}
	res, err := p.Select([]string{"0.9.0", "1.0.0", "v1.4.2", "1.5.0-rc.1", "latest", "main-abc1234"})
	if err != nil {
		panic(err) // a *policy.NoTagError: nothing qualifies
	}
	fmt.Println(res.Tag)
	fmt.Println(res.Diagnostics)
	// Output:
	// v1.4.2
	// 4 of 6 tags ignored: 2 not semantic versions (latest, main-abc1234), 1 pre-release excluded by range ">=1.0.0" (1.5.0-rc.1), 1 outside range ">=1.0.0" (0.9.0)
}

func Example_filterTags() {
	// Select the newest build of main, tagged main-<sha>-<unix time>.
	p, err := policy.New(
		policy.WithNumerical(policy.Ascending),
		policy.WithFilterTags(`^main-[a-f0-9]+-(?P<ts>[0-9]+)$`, "$ts"),
	)
	if err != nil {
		panic(err)
	}
	res, err := p.Select([]string{"main-3f2a9c1-1711840548", "main-b71e004-1711927000", "pr-12-1800000000", "latest"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Tag, res.Value)
	// Output:
	// main-b71e004-1711927000 1711927000
}

func ExampleNoTagError() {
	p, _ := policy.New(policy.WithSemVer("^2.0"))
	_, err := p.Select([]string{"1.0.0", "1.1.0", "latest"})
	var nt *policy.NoTagError
	if errors.As(err, &nt) {
		fmt.Println(err)
		fmt.Println(nt.Diagnostics.Candidates, "candidates")
	}
	// Output:
	// no tag qualifies: all 3 tags ignored: 1 not a semantic version (latest), 2 outside range "^2.0" (1.0.0, 1.1.0)
	// 0 candidates
}

func ExampleSpecError() {
	_, err := policy.New(policy.WithNumerical(""), policy.WithFilterTags(`^main-(?P<ts>\d+)$`, "$timestamp"))
	var se *policy.SpecError
	if errors.As(err, &se) {
		fmt.Println(se.Field)
		fmt.Println(err)
	}
	// Output:
	// spec.filterTags.extract
	// spec.filterTags.extract: invalid value "$timestamp": $timestamp refers to group "timestamp", but the pattern has only: ts
}

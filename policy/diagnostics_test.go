package policy_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dockhand-dev/dockhand/policy"
)

func TestDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		opts []policy.Option
		tags []string
		want policy.Diagnostics
		str  string
	}{
		{
			name: "issue example",
			opts: semver(">=1.0.0"),
			tags: append([]string{"latest", "main-abc1234", "dev", "pr-1", "1.0.0", "1.1.0", "1.2.0"}, repeat("sha-x", 33)...),
			want: policy.Diagnostics{Tags: 40, Candidates: 3, Ignored: []policy.Ignored{
				{Reason: policy.ReasonNotSemVer, Count: 37, Examples: []string{"latest", "main-abc1234", "dev"}, Message: "not semantic versions"},
			}},
			str: "37 of 40 tags ignored: not semantic versions (e.g. latest, main-abc1234, dev)",
		},
		{
			name: "every reason of semver, in a fixed order",
			opts: []policy.Option{policy.WithSemVer("^1.0"), policy.WithFilterTags(`^v?\d`, "")},
			tags: []string{"2.0.0", "1.1.0-rc.1", "1.x", "latest", "1.0.0", "0.1.0"},
			want: policy.Diagnostics{Tags: 6, Candidates: 1, Ignored: []policy.Ignored{
				{Reason: policy.ReasonNoFilterMatch, Count: 1, Examples: []string{"latest"}, Message: `not matching pattern "^v?\d"`},
				{Reason: policy.ReasonNotSemVer, Count: 1, Examples: []string{"1.x"}, Message: "not a semantic version"},
				{Reason: policy.ReasonPreRelease, Count: 1, Examples: []string{"1.1.0-rc.1"}, Message: `pre-release excluded by range "^1.0"`},
				{Reason: policy.ReasonOutsideRange, Count: 2, Examples: []string{"2.0.0", "0.1.0"}, Message: `outside range "^1.0"`},
			}},
			str: `5 of 6 tags ignored: 1 not matching pattern "^v?\d" (latest), 1 not a semantic version (1.x), ` +
				`1 pre-release excluded by range "^1.0" (1.1.0-rc.1), 2 outside range "^1.0" (2.0.0, 0.1.0)`,
		},
		{
			name: "pre-release outside a range that admits some",
			opts: semver(">=2.0.0-0"),
			tags: []string{"1.0.0-rc.1", "2.0.0-rc.1"},
			want: policy.Diagnostics{Tags: 2, Candidates: 1, Ignored: []policy.Ignored{
				{Reason: policy.ReasonOutsideRange, Count: 1, Examples: []string{"1.0.0-rc.1"}, Message: `outside range ">=2.0.0-0"`},
			}},
			str: `1 of 2 tags ignored: outside range ">=2.0.0-0" (1.0.0-rc.1)`,
		},
		{
			name: "numerical",
			opts: []policy.Option{policy.WithNumerical("")},
			tags: []string{"1", "x", "NaN"},
			want: policy.Diagnostics{Tags: 3, Candidates: 1, Ignored: []policy.Ignored{
				{Reason: policy.ReasonNotNumber, Count: 2, Examples: []string{"x", "NaN"}, Message: "not numbers"},
			}},
			str: "2 of 3 tags ignored: not numbers (x, NaN)",
		},
		{
			name: "all ignored",
			opts: []policy.Option{policy.WithNumerical("")},
			tags: []string{"x", "y"},
			want: policy.Diagnostics{Tags: 2, Ignored: []policy.Ignored{
				{Reason: policy.ReasonNotNumber, Count: 2, Examples: []string{"x", "y"}, Message: "not numbers"},
			}},
			str: "all 2 tags ignored: not numbers (x, y)",
		},
		{
			name: "the only tag",
			opts: []policy.Option{policy.WithNumerical("")},
			tags: []string{"x"},
			want: policy.Diagnostics{Tags: 1, Ignored: []policy.Ignored{
				{Reason: policy.ReasonNotNumber, Count: 1, Examples: []string{"x"}, Message: "not a number"},
			}},
			str: "the only tag ignored: not a number (x)",
		},
		{
			name: "none ignored",
			opts: []policy.Option{policy.WithAlphabetical("")},
			tags: []string{"a", "b"},
			want: policy.Diagnostics{Tags: 2, Candidates: 2},
			str:  "all 2 tags considered",
		},
		{
			name: "one tag considered",
			opts: []policy.Option{policy.WithAlphabetical("")},
			tags: []string{"a"},
			want: policy.Diagnostics{Tags: 1, Candidates: 1},
			str:  "1 tag considered, none ignored",
		},
		{
			name: "no tags",
			opts: []policy.Option{policy.WithAlphabetical("")},
			want: policy.Diagnostics{},
			str:  "no tags",
		},
		{
			name: "odd tags are quoted",
			opts: []policy.Option{policy.WithNumerical("")},
			tags: []string{"", "a b", strings.Repeat("z", 60), "1"},
			want: policy.Diagnostics{Tags: 4, Candidates: 1, Ignored: []policy.Ignored{
				{Reason: policy.ReasonNotNumber, Count: 3, Examples: []string{"", "a b", strings.Repeat("z", 60)}, Message: "not numbers"},
			}},
			str: `3 of 4 tags ignored: not numbers ("", "a b", "` + strings.Repeat("z", 48) + `"…)`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := mustNew(t, tc.opts...).Select(tc.tags)
			if diff := cmp.Diff(tc.want, res.Diagnostics); diff != "" {
				t.Errorf("Select(%q).Diagnostics (-want +got):\n%s", tc.tags, diff)
			}
			if got := res.Diagnostics.String(); got != tc.str {
				t.Errorf("Diagnostics.String() = %q; want %q", got, tc.str)
			}
		})
	}
}

func TestNoTagErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		tags []string
		want string
	}{
		{nil, "no tag qualifies: there are no tags"},
		{[]string{"latest", "main"}, "no tag qualifies: all 2 tags ignored: not semantic versions (latest, main)"},
	} {
		_, err := mustNew(t, policy.WithSemVer("*")).Select(tc.tags)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Select(%q) error = %v; want %q", tc.tags, err, tc.want)
		}
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

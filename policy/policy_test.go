package policy_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dockhand-dev/dockhand/policy"
)

func mustNew(t *testing.T, opts ...policy.Option) *policy.Policy {
	t.Helper()
	p, err := policy.New(opts...)
	if err != nil {
		t.Fatalf("policy.New: %v", err)
	}
	return p
}

// selectTag runs Select on tags and on shuffled copies of them, failing
// when the order of the input changes the outcome.
func selectTag(t *testing.T, p *policy.Policy, tags []string) (string, error) {
	t.Helper()
	res, err := p.Select(tags)
	r := rand.New(rand.NewPCG(1, uint64(len(tags))))
	for range 5 {
		shuffled := slices.Clone(tags)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		res2, err2 := p.Select(shuffled)
		if res2.Tag != res.Tag || (err == nil) != (err2 == nil) {
			t.Fatalf("Select(%q) = %q, %v but Select(%q) = %q, %v", tags, res.Tag, err, shuffled, res2.Tag, err2)
		}
	}
	return res.Tag, err
}

type selectCase struct {
	name string
	opts []policy.Option
	tags []string
	want string // "" when no tag qualifies
}

func runSelectCases(t *testing.T, cases []selectCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, tc.opts...)
			got, err := selectTag(t, p, tc.tags)
			if tc.want == "" {
				var nt *policy.NoTagError
				if !errors.As(err, &nt) {
					t.Fatalf("Select(%q) = %q, %v; want a *NoTagError", tc.tags, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Select(%q) = %q, %v; want %q", tc.tags, got, err, tc.want)
			}
		})
	}
}

func semver(r string) []policy.Option { return []policy.Option{policy.WithSemVer(r)} }

func TestSelectSemVer(t *testing.T) {
	runSelectCases(t, []selectCase{
		// Flux's documented and tested examples.
		{"flux docs 5.1.x", semver("5.1.x"), []string{"5.0.3", "5.1.0", "5.1.4", "5.2.0", "6.0.0", "latest"}, "5.1.4"},
		{"flux regular", semver("1.0.x"), []string{"1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"}, "1.0.1"},
		{"flux v prefix", semver("1.0.x"), []string{"v1.2.3", "v1.0.0", "v0.1.0"}, "v1.0.0"},
		{"flux invalid prefix", semver("1.0.x"), []string{"b1.2.3", "b1.0.0", "b0.1.0"}, ""},
		{"flux empty list", semver("1.0.x"), []string{}, ""},
		{"flux none in range", semver("1.0.x"), []string{"1.2.0"}, ""},
		{"flux docs stable", semver(">=1.0.0"), []string{"0.9.0", "1.0.0", "1.3.2", "2.0.0-rc.1", "main-abc1234"}, "1.3.2"},

		// Only one leading v, lower case, and strict versions.
		{"one v only", semver("*"), []string{"vv9.0.0", "V8.0.0", "1.0.0"}, "1.0.0"},
		{"not strict", semver("*"), []string{"9", "9.1", "09.1.1", "9.01.1", "9.1.01", "9.1.1.1", "9.1.1-", "9.1.1+", "9.1.1-01", "9.1.1-a..b", "9.1.1+a_b", " 9.1.1", "1.0.0"}, "1.0.0"},
		{"leading zero in text pre-release is fine", semver(">=1.0.0-0"), []string{"1.0.0-0a", "0.9.0"}, "1.0.0-0a"},
		{"uint64 major", semver("*"), []string{"18446744073709551615.0.0", "18446744073709551616.0.0", "1.0.0"}, "18446744073709551615.0.0"},
		{"256 bytes", semver("*"), []string{"1.0.0+" + strings.Repeat("a", 250), "0.1.0"}, "1.0.0+" + strings.Repeat("a", 250)},
		{"257 bytes", semver("*"), []string{"1.0.0+" + strings.Repeat("a", 251), "0.1.0"}, "0.1.0"},
		{"257 bytes with v", semver("*"), []string{"v1.0.0+" + strings.Repeat("a", 250), "0.1.0"}, "0.1.0"},
		{"major minor patch numerically", semver("*"), []string{"1.9.9", "1.10.0", "1.2.10"}, "1.10.0"},

		// Pre-releases.
		{"pre-release excluded", semver(">=1.0.0"), []string{"1.0.0", "1.1.0-rc.1"}, "1.0.0"},
		{"pre-release only", semver(">=1.0.0"), []string{"1.1.0-rc.1"}, ""},
		{"pre-release admitted", semver(">=1.0.0-0"), []string{"1.0.0", "1.1.0-rc.1"}, "1.1.0-rc.1"},
		{"release beats its pre-release", semver(">=1.0.0-0"), []string{"1.1.0-rc.1", "1.1.0"}, "1.1.0"},
		{"pre-release order", semver(">=1.0.0-0"), []string{"1.0.0-rc.1", "1.0.0-rc.10", "1.0.0-rc.2", "1.0.0-beta", "1.0.0-rc"}, "1.0.0-rc.10"},
		{"numeric below text", semver(">=1.0.0-0"), []string{"1.0.0-alpha", "1.0.0-1"}, "1.0.0-alpha"},
		{"huge number compares as text", semver(">=1.0.0-0"), []string{"1.0.0-99999999999999999999", "1.0.0-a"}, "1.0.0-a"},
		{"pre-release per || group", semver("^2.0.0 || >=1.0.0-0 <2.0.0"), []string{"1.5.0-rc.1", "2.1.0-rc.1", "1.4.0"}, "1.5.0-rc.1"},
		{"flux docs rc", []policy.Option{policy.WithSemVer("^1.x-0"), policy.WithFilterTags(`.*-rc.*`, "")}, []string{"1.0.0", "1.1.0-rc.1", "1.2.0-rc.2", "1.2.0"}, "1.2.0-rc.2"},

		// Ranges.
		{"caret", semver("^1.2"), []string{"1.1.9", "1.2.0", "1.9.9", "2.0.0"}, "1.9.9"},
		{"caret zero", semver("^0.2.3"), []string{"0.2.2", "0.2.9", "0.3.0"}, "0.2.9"},
		{"tilde", semver("~1.2.3"), []string{"1.2.2", "1.2.9", "1.3.0"}, "1.2.9"},
		{"hyphen range", semver("1.2 - 1.4.5"), []string{"1.1.0", "1.4.5", "1.4.6"}, "1.4.5"},
		{"or", semver("<1.0.0 || >=3.0.0 <3.1.0"), []string{"0.9.0", "2.0.0", "3.0.5", "3.1.0"}, "3.0.5"},
		{"not equal", semver(">=1.0.0, !=1.3.0"), []string{"1.2.0", "1.3.0"}, "1.2.0"},
		{"exact", semver("=1.2.3"), []string{"1.2.3", "v1.2.3", "1.2.4"}, "1.2.3"},

		// Ties: equal versions with different text.
		{"tie v prefix", semver("*"), []string{"v1.2.3", "1.2.3", "1.2.2"}, "1.2.3"},
		{"tie metadata", semver("*"), []string{"1.2.3+build.2", "1.2.3", "1.2.3+build.1"}, "1.2.3"},
		{"tie metadata only", semver("*"), []string{"1.2.3+build.2", "1.2.3+build.1"}, "1.2.3+build.1"},
		{"tie v and metadata", semver("*"), []string{"v1.2.3", "v1.2.3+b"}, "v1.2.3"},

		// Extract.
		{"extract version", []policy.Option{policy.WithSemVer(">=1.0.0"), policy.WithFilterTags(`^app-(?P<v>.*)$`, "$v")},
			[]string{"app-1.2.0", "app-1.10.0", "lib-9.0.0", "app-latest"}, "app-1.10.0"},
		{"extract equal value, tags differ", []policy.Option{policy.WithSemVer("*"), policy.WithFilterTags(`^[a-z]+-(.*)$`, "$1")},
			[]string{"aa-1.0.0", "zz-1.0.0", "mm-1.0.0"}, "zz-1.0.0"},
		{"extract empty is not a version", []policy.Option{policy.WithSemVer("*"), policy.WithFilterTags(`^x(\d*)$`, "$1")},
			[]string{"x", "x1"}, ""},
	})
}

func TestSelectAlphabetical(t *testing.T) {
	alpha := func(o policy.Order) []policy.Option { return []policy.Option{policy.WithAlphabetical(o)} }
	calver := []string{"16.04", "16.04.1", "16.10", "20.04", "20.10"}
	names := []string{"xenial", "yakkety", "zesty", "artful", "bionic"}
	stamps := []string{"1606234201", "1606364286", "1606334092", "1606334284", "1606334201"}
	runSelectCases(t, []selectCase{
		// Flux's tested examples.
		{"calver", alpha(""), calver, "20.10"},
		{"calver desc", alpha(policy.Descending), calver, "16.04"},
		{"code names", alpha(policy.Ascending), names, "zesty"},
		{"code names desc", alpha(policy.Descending), names, "artful"},
		{"timestamps", alpha(""), stamps, "1606364286"},
		{"timestamps desc", alpha("desc"), stamps, "1606234201"},
		{"empty list", alpha(""), nil, ""},
		{"flux docs RELEASE", []policy.Option{policy.WithAlphabetical("asc"), policy.WithFilterTags(`^RELEASE\.(?P<timestamp>.*)Z$`, "$timestamp")},
			[]string{"RELEASE.2024-01-02T03-04-05Z", "RELEASE.2024-11-02T03-04-05Z", "RELEASE.2024-02-02T03-04-05Z", "latest"}, "RELEASE.2024-11-02T03-04-05Z"},

		{"upper case order", alpha("DESC"), []string{"b", "a"}, "a"},
		{"bytes, not letters", alpha(""), []string{"B", "a", "Z"}, "a"},
		{"equal values: last tag", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`-(\d+)$`, "$1")},
			[]string{"a-5", "c-5", "b-5", "c-4"}, "c-5"},
		{"equal values desc: last tag", []policy.Option{policy.WithAlphabetical("desc"), policy.WithFilterTags(`-(\d+)$`, "$1")},
			[]string{"a-5", "c-5", "b-5", "z-6"}, "c-5"},
		{"empty extract value is first", []policy.Option{policy.WithAlphabetical("desc"), policy.WithFilterTags(`^x(\d*)$`, "${1}")},
			[]string{"x", "x1", "x2"}, "x"},
		{"template", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`^(?P<d>\d{8})-(?P<t>\d{4})-[a-f0-9]+$`, "$d.$t")},
			[]string{"20240101-1200-abc", "20240101-0900-fff", "20231231-2359-000"}, "20240101-1200-abc"},
	})
}

func TestSelectNumerical(t *testing.T) {
	num := func(o policy.Order) []policy.Option { return []policy.Option{policy.WithNumerical(o)} }
	stamps := []string{"1606234201", "1606364286", "1606334092", "1606334284", "1606334201"}
	runSelectCases(t, []selectCase{
		// Flux's tested examples.
		{"integers", num(""), []string{"-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91"}, "73"},
		{"integers desc", num("desc"), []string{"5", "-8", "-78", "25", "70", "-4", "80", "92", "-20", "-24"}, "-78"},
		{"floats", num("asc"), []string{"47.40896403322944", "-27.8520927455902", "53.47333823144817", "3.2008658570411086"}, "53.47333823144817"},
		{"floats desc", num("desc"), []string{"-65.27202780220686", "57.82948329142309", "-90.29082099756083", "77.70488240399305"}, "-90.29082099756083"},
		{"timestamps", num(""), stamps, "1606364286"},
		{"timestamps desc", num("desc"), stamps, "1606234201"},
		{"single", num(""), []string{"1"}, "1"},
		{"single desc", num("desc"), []string{"1"}, "1"},
		{"empty list", num(""), nil, ""},
		// Flux fails on these; we select among the numbers.
		{"some not numbers", num(""), []string{"0", "1a", "b"}, "0"},
		{"none numbers", num(""), []string{"1a", "b", "latest"}, ""},
		{"NaN ignored", num(""), []string{"NaN", "nan", "3"}, "3"},
		{"out of range ignored", num(""), []string{"1e400", "3"}, "3"},
		{"inf is a number", num(""), []string{"inf", "3"}, "inf"},
		{"ParseFloat syntax", num(""), []string{"1e3", "0x1p11", "999", "1_000"}, "0x1p11"},
		{"long integers", num(""), []string{"12345678901234567", "12345678901234568", "9"}, "12345678901234568"},
		{"flux docs main-sha-ts", []policy.Option{policy.WithNumerical("asc"), policy.WithFilterTags(`^main-[a-fA-F0-9]+-(?P<ts>.*)`, "$ts")},
			[]string{"main-a1b2c3d-1611840548", "main-ffee001-1611840999", "feature-x-1711840999", "main-0000000-1600000000", "latest"}, "main-ffee001-1611840999"},

		// Ties.
		{"equal numbers: last value", num(""), []string{"1", "1.0", "01", "0.5"}, "1.0"},
		{"equal numbers desc: last value", num("desc"), []string{"1", "1.0", "01", "3"}, "1.0"},
		{"equal values: last tag", []policy.Option{policy.WithNumerical(""), policy.WithFilterTags(`-(\d+)$`, "$1")},
			[]string{"b-7", "c-7", "a-7", "a-6"}, "c-7"},
	})
}

func TestSelectFilter(t *testing.T) {
	runSelectCases(t, []selectCase{
		{"unanchored", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`ver`, "")},
			[]string{"ver1", "xver2", "rel3"}, "xver2"},
		{"anchored", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`^ver`, "")},
			[]string{"ver1", "xver2", "rel3"}, "ver1"},
		{"flux capture", []policy.Option{policy.WithNumerical(""), policy.WithFilterTags(`ver(\d+)`, "$1")},
			[]string{"ver1", "ver12", "ver3", "rel99"}, "ver12"},
		{"no tag matches", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`^v`, "")},
			[]string{"a", "b"}, ""},
		{"empty pattern matches all", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags("", "")},
			[]string{"a", "b"}, "b"},
		{"non-ASCII tag", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`^.(\d)$`, "$1")},
			[]string{"é1", "a2", "日3"}, "日3"},
		{"named group used twice", []policy.Option{policy.WithNumerical(""), policy.WithFilterTags(`^(?:a(?P<n>\d+)|b(?P<n>\d+))$`, "$n")},
			[]string{"a5", "b7", "c9"}, "b7"},
		{"literal dollar", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`^(\w+)$`, "$$$1")},
			[]string{"b", "a"}, "b"},
	})
}

func TestResultValue(t *testing.T) {
	p := mustNew(t, policy.WithNumerical(""), policy.WithFilterTags(`^main-[a-f0-9]+-(?P<ts>\d+)$`, "$ts"))
	res, err := p.Select([]string{"main-abc-100", "main-def-200", "latest"})
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Result{
		Tag:   "main-def-200",
		Value: "200",
		Diagnostics: policy.Diagnostics{Tags: 3, Candidates: 2, Ignored: []policy.Ignored{{
			Reason: policy.ReasonNoFilterMatch, Count: 1, Examples: []string{"latest"},
			Message: `not matching pattern "^main-[a-f0-9]+-(?P<ts>\d+)$"`,
		}}},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Select result (-want +got):\n%s", diff)
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		name      string
		opts      []policy.Option
		wantField string
		wantMsg   string
	}{
		{"no policy", nil, "spec.policy", "spec.policy: one of semver, alphabetical or numerical is required"},
		{"filter only", []policy.Option{policy.WithFilterTags(".*", "")}, "spec.policy", "required"},
		{"two policies", []policy.Option{policy.WithSemVer("*"), policy.WithNumerical("")}, "spec.policy", "only one of"},
		{"bad range", semver("1.0.0p"), "spec.policy.semver.range", `spec.policy.semver.range: invalid value "1.0.0p"`},
		{"empty range", semver(""), "spec.policy.semver.range", "improper constraint"},
		{"flux bad ranges 1x", semver("1x"), "spec.policy.semver.range", ""},
		{"flux bad ranges x1", semver("x1"), "spec.policy.semver.range", ""},
		{"flux bad ranges -1", semver("-1"), "spec.policy.semver.range", ""},
		{"flux bad ranges a", semver("a"), "spec.policy.semver.range", ""},
		{"bad alphabetical order", []policy.Option{policy.WithAlphabetical("up")}, "spec.policy.alphabetical.order", `must be "asc" or "desc"`},
		{"bad numerical order", []policy.Option{policy.WithNumerical("ascending")}, "spec.policy.numerical.order", `invalid value "ascending"`},
		{"bad pattern", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`^(main`, "")}, "spec.filterTags.pattern", "missing closing )"},
		{"missing named group", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`^main-(?P<ts>\d+)$`, "$timestamp")},
			"spec.filterTags.extract", `$timestamp refers to group "timestamp", but the pattern has only: ts`},
		{"missing numbered group", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`^main-(\d+)-(\d+)$`, "${3}")},
			"spec.filterTags.extract", "${3} refers to group 3, but the pattern has only: 1, 2"},
		{"no groups", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`^main-`, "$1")},
			"spec.filterTags.extract", "$1 refers to group 1, but the pattern has no groups"},
		{"leading zero is a name", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`(a)`, "$01")},
			"spec.filterTags.extract", `group "01"`},
		{"group named in text", []policy.Option{policy.WithAlphabetical(""), policy.WithFilterTags(`(?P<a>x)`, "v$ab")},
			"spec.filterTags.extract", `group "ab"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.New(tc.opts...)
			var se *policy.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("New() = %v, %v; want a *SpecError", p, err)
			}
			if se.Field != tc.wantField || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("New() error = %q (field %q); want field %q and a message containing %q", err, se.Field, tc.wantField, tc.wantMsg)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	cases := map[string][]policy.Option{
		// Flux's valid ranges.
		"1.0.x": semver("1.0.x"), "^1.0": semver("^1.0"), "=1.0.0": semver("=1.0.0"), "~1.0": semver("~1.0"),
		">=1.0": semver(">=1.0"), ">0,<2.0": semver(">0,<2.0"),
		"extract $0":          {policy.WithAlphabetical(""), policy.WithFilterTags(`a`, "$0")},
		"malformed $ is text": {policy.WithAlphabetical(""), policy.WithFilterTags(`a`, "$-${")},
		"escaped":             {policy.WithAlphabetical(""), policy.WithFilterTags(`a`, "$$1")},
		"later filter wins":   {policy.WithAlphabetical(""), policy.WithFilterTags(`(`, ""), policy.WithFilterTags(`(a)`, "$1")},
	}
	for name, opts := range cases {
		if _, err := policy.New(opts...); err != nil {
			t.Errorf("New(%s) = %v; want no error", name, err)
		}
	}
}

func TestSelectConcurrent(t *testing.T) {
	p := mustNew(t, policy.WithNumerical(""), policy.WithFilterTags(`^b-(\d+)-(\d+)$`, "$2$1"))
	tags := []string{"b-1-9", "b-2-8", "b-3-7", "x"}
	done := make(chan string)
	for range 8 {
		go func() {
			res, _ := p.Select(tags)
			done <- res.Tag
		}()
	}
	for range 8 {
		if got := <-done; got != "b-1-9" { // values 91, 82, 73
			t.Errorf("concurrent Select(%q) = %q; want b-1-9", tags, got)
		}
	}
}

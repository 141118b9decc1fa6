package policy_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/dockhand-dev/dockhand/policy"
)

// BenchmarkSelect measures Select on generated tag lists of 1k, 10k and
// 100k tags, in random order:
//
//   - semver: ">=1.0.0" over versions (some v-prefixed, pre-releases,
//     below 1.0.0) with 20% junk tags (latest, main-<sha>, sha-<sha>);
//   - alphabetical: RELEASE.<timestamp>Z tags;
//   - numerical: Unix timestamps;
//   - filter+extract: main-<sha>-<unix-ts> tags, numerical on the
//     timestamp extracted by ^main-[a-fA-F0-9]+-(?P<ts>.*) and $ts, as
//     Flux's documentation suggests.
func BenchmarkSelect(b *testing.B) {
	cases := []struct {
		name string
		opts []policy.Option
		gen  func(r *rand.Rand) string
	}{
		{"semver", []policy.Option{policy.WithSemVer(">=1.0.0")}, semverTag},
		{"alphabetical", []policy.Option{policy.WithAlphabetical(policy.Ascending)}, func(r *rand.Rand) string {
			return "RELEASE." + randomTime(r).Format("2006-01-02T15-04-05") + "Z"
		}},
		{"numerical", []policy.Option{policy.WithNumerical(policy.Ascending)}, func(r *rand.Rand) string {
			return strconv.FormatInt(randomTime(r).Unix(), 10)
		}},
		{"filter+extract", []policy.Option{
			policy.WithNumerical(policy.Ascending),
			policy.WithFilterTags(`^main-[a-fA-F0-9]+-(?P<ts>.*)`, "$ts"),
		}, func(r *rand.Rand) string {
			return fmt.Sprintf("main-%07x-%d", r.Uint32()>>4, randomTime(r).Unix())
		}},
	}
	for _, c := range cases {
		p, err := policy.New(c.opts...)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{1_000, 10_000, 100_000} {
			r := rand.New(rand.NewPCG(uint64(n), 42))
			tags := make([]string, n)
			for i := range tags {
				tags[i] = c.gen(r)
			}
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				start, ok := cpuTime()
				for b.Loop() {
					if _, err := p.Select(tags); err != nil {
						b.Fatal(err)
					}
				}
				// Also report the CPU time per op, which the other work on
				// a shared machine inflates less than wall time.
				if end, ok2 := cpuTime(); ok && ok2 {
					b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

func randomTime(r *rand.Rand) time.Time {
	return time.Unix(1_500_000_000+r.Int64N(300_000_000), 0).UTC()
}

// semverTag is a version 80% of the time, junk otherwise.
func semverTag(r *rand.Rand) string {
	switch x := r.IntN(100); {
	case x < 10:
		return "latest"
	case x < 15:
		return fmt.Sprintf("main-%07x", r.Uint32()>>4)
	case x < 20:
		return fmt.Sprintf("sha-%07x", r.Uint32()>>4)
	case x < 30:
		return fmt.Sprintf("v%d.%d.%d", r.IntN(5), r.IntN(30), r.IntN(30))
	case x < 35:
		return fmt.Sprintf("%d.%d.%d-rc.%d", r.IntN(5), r.IntN(30), r.IntN(30), r.IntN(5))
	default:
		return fmt.Sprintf("%d.%d.%d", r.IntN(5), r.IntN(30), r.IntN(30))
	}
}

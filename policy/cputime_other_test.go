//go:build !unix

package policy_test

import "time"

func cpuTime() (time.Duration, bool) { return 0, false }

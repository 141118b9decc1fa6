//go:build unix

package policy_test

import (
	"syscall"
	"time"
)

// cpuTime is the user and system CPU time the process has used. On a
// shared machine it counts only the work done, where wall time also counts
// the waits for a core.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

//go:build unix

package gitpush

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f that other processes honour,
// waiting for it.
func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

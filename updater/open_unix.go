//go:build unix && !linux

package updater

import "syscall"

// openFile opens cname, a path ending in a NUL byte, for reading, without
// following a final symlink.
func openFile(cname []byte) (int, error) {
	for {
		fd, err := syscall.Open(goName(cname), syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

package updater

import (
	"syscall"
	"unsafe"
)

// atFDCWD is AT_FDCWD: a relative path is taken from the working directory.
var atFDCWD = -0x64

// openFile opens cname, a path ending in a NUL byte, for reading, without
// following a final symlink. It passes the path to openat as it is, where
// syscall.Open would copy it first.
func openFile(cname []byte) (int, error) {
	if len(cname) == 0 || cname[len(cname)-1] != 0 {
		return -1, syscall.EINVAL
	}
	for {
		fd, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&cname[0])),
			uintptr(syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW), 0, 0, 0)
		switch errno {
		case 0:
			return int(fd), nil
		case syscall.EINTR:
			continue
		default:
			return -1, errno
		}
	}
}

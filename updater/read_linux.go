package updater

import (
	"io/fs"
	"syscall"
	"unsafe"
)

// readInto reads the whole file at cname, a path ending in a NUL byte, into
// buf, growing it as needed. It makes the system calls itself: an os.File
// costs an allocation and an extra fstat per file, and syscall.Open a copy
// of the path, which add up over tens of thousands of files.
func readInto(cname []byte, buf []byte) ([]byte, error) {
	fd, err := openFile(cname)
	if err != nil {
		return buf, &fs.PathError{Op: "open", Path: goName(cname), Err: err}
	}
	defer syscall.Close(fd)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return buf, &fs.PathError{Op: "read", Path: goName(cname), Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// atFDCWD is AT_FDCWD: a relative path is taken from the working directory.
var atFDCWD = -0x64

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

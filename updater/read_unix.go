//go:build unix && !linux

package updater

import (
	"io/fs"
	"syscall"
)

// readInto reads the whole file at cname, a path ending in a NUL byte, into
// buf, growing it as needed. It makes the system calls itself: an os.File
// costs an allocation and an extra fstat per file.
func readInto(cname []byte, buf []byte) ([]byte, error) {
	name := goName(cname)
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return buf, &fs.PathError{Op: "open", Path: name, Err: err}
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
			return buf, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

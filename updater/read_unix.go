//go:build unix

package updater

import (
	"io/fs"
	"syscall"
)

// readInto reads the whole file at cname, a path ending in a NUL byte, into
// buf, growing it as needed. It makes the system calls itself: an os.File
// costs an allocation and an extra fstat per file, which add up over tens
// of thousands of files.
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

//go:build !unix

package updater

import (
	"io"
	"os"
)

// readInto reads the whole file at cname, a path ending in a NUL byte, into
// buf, growing it as needed.
func readInto(cname []byte, buf []byte) ([]byte, error) {
	f, err := os.Open(goName(cname))
	if err != nil {
		return buf, err
	}
	defer f.Close()
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

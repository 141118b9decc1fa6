package updater

import (
	"encoding/binary"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// dirScratch holds the buffers readDir reuses from one directory to the
// next.
type dirScratch struct {
	buf   []byte // getdents records
	names []byte // the names of the directory being read, back to back
	ends  []int  // where each name ends in names
	types []fs.FileMode
}

// Offsets in a linux_dirent64 record (getdents64(2)).
const (
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

// readDir reads the entries of the directory at abs, without "." and "..",
// in the order the file system gives them. The names share one string:
// reading a directory of a hundred files allocates twice, not two hundred
// times as os.ReadDir does.
func readDir(abs string, s *dirScratch) ([]dirent, error) {
	fd, err := openDir(abs)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	if s.buf == nil {
		s.buf = make([]byte, 32<<10)
	}
	s.names, s.ends, s.types = s.names[:0], s.ends[:0], s.types[:0]
	for {
		n, err := syscall.Getdents(fd, s.buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: abs, Err: err}
		}
		if n <= 0 {
			break
		}
		for rec := s.buf[:n]; len(rec) >= direntName; {
			reclen := int(binary.NativeEndian.Uint16(rec[direntReclen:]))
			if reclen < direntName || reclen > len(rec) {
				return nil, &fs.PathError{Op: "readdirent", Path: abs, Err: syscall.EIO}
			}
			name := rec[direntName:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			typ := rec[direntType]
			rec = rec[reclen:]
			if string(name) == "." || string(name) == ".." || len(name) == 0 {
				continue
			}
			s.names = append(s.names, name...)
			s.ends = append(s.ends, len(s.names))
			s.types = append(s.types, direntMode(typ))
		}
	}
	var b strings.Builder
	b.Grow(len(s.names))
	b.Write(s.names)
	all := b.String()
	entries := make([]dirent, len(s.ends))
	start := 0
	for i, end := range s.ends {
		entries[i] = dirent{name: all[start:end], typ: s.types[i]}
		start = end
	}
	resolveUnknown(abs, entries)
	return entries, nil
}

// resolveUnknown asks for the type of the entries whose file system did not
// give it in the directory listing (some do not fill d_type).
func resolveUnknown(abs string, entries []dirent) {
	for i := range entries {
		if entries[i].typ != modeUnknown {
			continue
		}
		fi, err := os.Lstat(abs + "/" + entries[i].name)
		if err != nil {
			entries[i].typ = fs.ModeIrregular // gone since: skipped
			continue
		}
		entries[i].typ = fi.Mode().Type()
	}
}

// modeUnknown marks an entry whose type the file system did not give.
const modeUnknown = fs.ModeType

func direntMode(t uint8) fs.FileMode {
	switch t {
	case syscall.DT_REG:
		return 0
	case syscall.DT_DIR:
		return fs.ModeDir
	case syscall.DT_LNK:
		return fs.ModeSymlink
	case syscall.DT_UNKNOWN:
		return modeUnknown
	default:
		return fs.ModeIrregular
	}
}

func openDir(abs string) (int, error) {
	for {
		fd, err := syscall.Open(abs, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: abs, Err: err}
		}
		return fd, nil
	}
}

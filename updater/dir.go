package updater

import "io/fs"

// dirent is one entry of a directory the walk reads.
type dirent struct {
	name string
	typ  fs.FileMode // fs.ModeDir, fs.ModeSymlink, 0 for a regular file, fs.ModeIrregular for the rest
}

// dirPath is a directory of the walk, shared by the jobs of its files so
// that a file's paths are built only when they are needed.
type dirPath struct {
	rel string // slash-separated, relative to the root; "." for the root
	abs string
}

// child returns the relative path of the entry name of d.
func (d *dirPath) child(name string) string {
	if d.rel == "." {
		return name
	}
	return d.rel + "/" + name
}

// goName returns the path in cname without its terminating NUL byte.
func goName(cname []byte) string {
	if n := len(cname); n > 0 && cname[n-1] == 0 {
		cname = cname[:n-1]
	}
	return string(cname)
}

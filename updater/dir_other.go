//go:build !linux

package updater

import "os"

// dirScratch is unused here: os.ReadDir has its own buffers.
type dirScratch struct{}

// readDir reads the entries of the directory at abs.
func readDir(abs string, _ *dirScratch) ([]dirent, error) {
	des, err := os.ReadDir(abs)
	if err != nil {
		return nil, err
	}
	entries := make([]dirent, len(des))
	for i, de := range des {
		entries[i] = dirent{name: de.Name(), typ: de.Type()}
	}
	return entries, nil
}

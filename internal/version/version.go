// Package version reports what build of dockhand is running.
//
// Version and Commit are set at link time by the Makefile
// (-X github.com/dockhand-dev/dockhand/internal/version.Version=...). A binary
// built without them falls back to the module and VCS data the Go toolchain
// embeds, so `go install` and `go run` still report something useful.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set at link time; empty means "read the build info".
var (
	Version string
	Commit  string
)

// Info describes one build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the version information of the running binary.
func Get() Info {
	info := Info{
		Version:   Version,
		Commit:    Commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Commit == "" {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					info.Commit = s.Value
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

//go:build !unix

package updater

import "time"

func processCPUTime() time.Duration { return 0 }

package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkManifestsChanged is the cost of one look at the manifests by a
// long run (every --reload-interval) when nothing changed, over a
// repository of N YAML files, 100 to a directory.
func BenchmarkManifestsChanged(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			for i := range n {
				sub := filepath.Join(dir, fmt.Sprintf("app-%03d", i/100))
				if i%100 == 0 {
					if err := os.MkdirAll(sub, 0o755); err != nil {
						b.Fatal(err)
					}
				}
				doc := fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-%d\n", i)
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("deploy-%d.yaml", i)), []byte(doc), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			m := &Manifests{Paths: []string{dir}}
			stat, files, err := statStamp(m.Paths)
			if err != nil || len(files) != n {
				b.Fatalf("listed %d files, %v", len(files), err)
			}
			m.seen = stamp{stat: stat, content: contentStamp(files, nil)}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if m.Changed() {
					b.Fatal("Changed = true for files that did not change")
				}
			}
		})
	}
}

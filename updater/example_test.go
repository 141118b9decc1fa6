package updater_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/dockhand-dev/dockhand/updater"
)

func Example() {
	dir, err := os.MkdirTemp("", "updater-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  template:
    spec:
      containers:
      - name: web
        image: ghcr.io/org/web:1.0.0 # {"$imagepolicy": "apps:web"}
      - name: sidecar
        image: ghcr.io/org/sidecar:1.0.0 # {"$imagepolicy": "apps:sidecar"}
`
	if err := os.WriteFile(filepath.Join(dir, "deploy.yaml"), []byte(manifest), 0o644); err != nil {
		log.Fatal(err)
	}

	res, err := updater.Apply(context.Background(), dir, map[string]updater.Ref{
		"apps/web": {Name: "ghcr.io/org/web", Tag: "1.1.0"},
	}, updater.WithDefaultNamespace("apps"))
	if err != nil {
		log.Fatal(err)
	}
	for obj, changes := range res.Objects() {
		for _, c := range changes {
			fmt.Printf("%s: %s -> %s (%s)\n", obj, c.OldValue, c.NewValue, c.Setter)
		}
	}
	for _, d := range res.Diagnostics {
		fmt.Println(d)
	}
	// Output:
	// Deployment apps/web: ghcr.io/org/web:1.0.0 -> ghcr.io/org/web:1.1.0 (apps:web)
	// deploy.yaml:13: note: policy apps/sidecar is not among the policies of this update; value left unchanged
}

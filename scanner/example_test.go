package scanner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
	"github.com/dockhand-dev/dockhand/scanner"
)

func ExampleScanner_ListTags() {
	ctx := context.Background()
	reg, err := registry.New(ctx, registry.WithTLS(), registry.WithBasicAuth("ci", "s3cret"))
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	if _, err := reg.WriteImage(ctx, "team/app", "1.0.0", "1.1.0", "sha256-1234.sig"); err != nil {
		panic(err)
	}

	s, err := scanner.New()
	if err != nil {
		panic(err)
	}
	defer s.Close()
	list, err := s.ListTags(ctx, scanner.Target{
		Image: reg.Repo("team/app"),
		Auth:  scanner.Auth{Username: "ci", Password: "s3cret"},
		TLS:   scanner.TLSConfig{CA: reg.CACertPEM()},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(list.Tags, list.Excluded, list.Credential)

	// Wrong credentials: a terminal error that says which credential failed.
	_, err = s.ListTags(ctx, scanner.Target{
		Image: reg.Repo("team/app"),
		Auth:  scanner.Auth{Username: "ci", Password: "wrong"},
		TLS:   scanner.TLSConfig{CA: reg.CACertPEM()},
	})
	fmt.Println(errors.Is(err, scanner.ErrUnauthorized), scanner.IsRetryable(err))
	// Output:
	// [1.0.0 1.1.0] 1 basic auth as user ci
	// true false
}

func ExampleTagStore() {
	dir, _ := os.MkdirTemp("", "tagstore")
	defer os.RemoveAll(dir)
	store, err := scanner.OpenTagStore(filepath.Join(dir, "state.db"))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	res, err := store.Put("apps/web", []string{"1.0.0", "1.2.0", "1.1.0"}, time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	fmt.Println(res.TagCount, res.LatestTags)
	// Output: 3 [1.2.0 1.1.0 1.0.0]
}

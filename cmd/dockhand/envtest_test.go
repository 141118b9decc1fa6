package main

import (
	"sync"
	"testing"

	"github.com/dockhand-dev/dockhand/fixtures/envtest"
)

// shared is the one API server this package's tests use, each test in
// namespaces of its own: starting one takes seconds. TestMain stops it.
var shared struct {
	once sync.Once
	env  *envtest.Env
	err  error
}

// testEnv returns the package's API server, starting it on first use.
func testEnv(t *testing.T) *envtest.Env {
	t.Helper()
	if testing.Short() {
		t.Skip("starts envtest")
	}
	shared.once.Do(func() { shared.env, shared.err = envtest.Start(envtest.Options{}) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.env
}

// stopTestEnv stops the API server if a test started it.
func stopTestEnv() error {
	if shared.env == nil {
		return nil
	}
	return shared.env.Stop()
}

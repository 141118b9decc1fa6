package gitpush_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/dockhand-dev/dockhand/gitpush"
)

// A run that rewrites one file under the update path and pushes it to a
// branch of its own, then opens (or updates) a pull request from it.
func ExampleClient_Run() {
	ctx := context.Background()
	c, err := gitpush.New("/var/cache/dockhand/git")
	if err != nil {
		log.Fatal(err)
	}
	auth, err := gitpush.AuthFromSecret(map[string][]byte{
		"username": []byte("bot"),
		"password": []byte(os.Getenv("GIT_TOKEN")),
	})
	if err != nil {
		log.Fatal(err)
	}
	remote := gitpush.Remote{URL: "https://github.com/acme/fleet.git", Auth: auth}
	res, err := c.Run(ctx, gitpush.Request{
		Remote:   remote,
		Checkout: gitpush.Checkout{Branch: "main"},
		Paths:    []string{"clusters/prod"},
		Commit:   gitpush.CommitOptions{Author: gitpush.Author{Name: "dockhand", Email: "bot@example.com"}},
		Push:     gitpush.PushOptions{Branch: "dockhand/prod"},
		Change: func(ctx context.Context, wt gitpush.Worktree) (gitpush.Change, error) {
			// the engine runs the updater here and renders the message
			f := "clusters/prod/app.yaml"
			err := os.WriteFile(filepath.Join(wt.Dir, f), []byte("image: app:1.2.3\n"), 0o644)
			return gitpush.Change{Message: "Update app to 1.2.3", Files: []string{f}}, err
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if res.Commit == "" {
		return // nothing changed
	}
	pr, err := c.EnsurePullRequest(ctx, remote, gitpush.PullRequest{
		Provider: gitpush.ProviderGitHub, Head: "dockhand/prod", Base: "main",
		Title: "Update images in prod", Labels: []string{"automated"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pr.URL)
}

package controller

import (
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/fixtures/forge"
	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// TestPullRequest: a new tag becomes a commit on a branch of its own and a
// pull request on the GitHub stand-in; the next tag updates the same pull
// request. Git over HTTPS with a token, the API with the same token.
func TestPullRequest(t *testing.T) {
	testEnv.Require(t)
	ns := testEnv.Namespace(t)
	const token = "ghp_dockhand_test_token"
	gh := forge.StartGitHub(t, 1, 1, "acme", nil, token)
	git := gitserver.Start(t, gitserver.WithTLS(), gitserver.WithBasicAuth("x-access-token", token))
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	image := reg.Repo("team/app")
	git.CreateRepo(t, "acme/app", map[string]string{manifestPath: manifest(image+":1.0.0", ns, "app")})

	// One CA bundle trusting the git server's CA and the stand-in's
	// certificate.
	caBundle := string(git.HTTP.CACertPEM()) + string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: gh.Server.Certificate().Raw}))
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "github"},
		StringData: map[string]string{"username": "x-access-token", "password": token, "ca.crt": caBundle},
	})
	startController(t, []string{ns})

	repo := newRepository(ns, "app", image)
	create(t, repo)
	create(t, newPolicy(ns, "app", "app"))
	auto := newAutomation(ns, "fleet", func(a *imagev1.ImageUpdateAutomation) {
		a.Spec.GitSpec.Remote = &imagev1.GitRemoteSpec{URL: git.HTTP.URL("acme/app"), SecretRef: &imagev1.LocalObjectReference{Name: "github"}}
		a.Spec.GitSpec.Push = &imagev1.PushSpec{Branch: "dockhand/images"}
		a.Spec.GitSpec.PullRequest = &imagev1.PullRequestSpec{Provider: imagev1.PullRequestGitHub, APIURL: gh.URL(), Base: "main", Labels: []string{"automated"}}
	})
	create(t, auto)
	waitReady(t, auto, metav1.ConditionTrue, imagev1.SucceededReason)

	for i, tag := range []string{"1.1.0", "1.2.0"} {
		reg.PushTags(t, "team/app", tag)
		setRequest(t, repo, "pr-"+tag)
		eventually(t, "pull request for "+tag, func() error {
			got, err := git.ReadFile(t.Context(), "acme/app", "dockhand/images", manifestPath)
			if err != nil {
				return err
			}
			if !strings.Contains(string(got), image+":"+tag+" ") {
				return fmt.Errorf("dockhand/images has\n%s", got)
			}
			prs := gh.PRs("acme/app")
			if len(prs) != 1 || prs[0].Head != "dockhand/images" || prs[0].Base != "main" || !prs[0].Open {
				return fmt.Errorf("pull requests = %+v, want one open from dockhand/images to main", prs)
			}
			if err := fetch(t, auto); err != nil {
				return err
			}
			pr := auto.Status.PullRequest
			if pr == nil || pr.Number != prs[0].Number || !strings.HasSuffix(pr.URL, fmt.Sprintf("/acme/app/pull/%d", prs[0].Number)) {
				return fmt.Errorf("status.pullRequest = %+v", pr)
			}
			if auto.Status.LastPushCommit != git.BranchHead(t, "acme/app", "dockhand/images") {
				return fmt.Errorf("lastPushCommit %q is not the head of dockhand/images", auto.Status.LastPushCommit)
			}
			return readyIs(auto, metav1.ConditionTrue, imagev1.SucceededReason)
		})
		if got := git.FileAt(t, "acme/app", "main", manifestPath); !strings.Contains(got, image+":1.0.0 ") {
			t.Errorf("after pull request %d, main changed:\n%s", i+1, got)
		}
	}
}

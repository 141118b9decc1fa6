package gitpush

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Pull request providers.
const (
	ProviderGitHub = "github"
	ProviderGitLab = "gitlab"
	ProviderGitea  = "gitea" // Gitea and Forgejo
)

// PullRequest is a pull (or merge) request to open or update.
type PullRequest struct {
	// Provider is github, gitlab or gitea.
	Provider string
	// APIURL is the REST API root. Default from the remote's host:
	// https://api.github.com for github.com, https://HOST/api/v3 for other
	// GitHub hosts (or the GitHub App's BaseURL), https://HOST/api/v4 for
	// GitLab, https://HOST/api/v1 for Gitea.
	APIURL string
	// Repository is "owner/name" (GitLab: the full project path). Default:
	// the remote URL's path without ".git".
	Repository string
	// Head is the branch with the changes (push.branch); Base the branch
	// to merge into.
	Head, Base string
	// Title and Body are already rendered.
	Title, Body string
	// Labels are added (never removed).
	Labels []string
}

// PullRequestResult identifies the pull request for status.
type PullRequestResult struct {
	URL     string
	Number  int
	Created bool // false when an open one was updated
}

// EnsurePullRequest opens a pull request from pr.Head into pr.Base, or
// updates the open one between those branches (title, body, labels), so
// repeated runs never open duplicates. The token is the GitHub App's
// installation token, else Auth.BearerToken, else Auth.Password.
func (c *Client) EnsurePullRequest(ctx context.Context, remote Remote, pr PullRequest) (PullRequestResult, error) {
	display := remoteDisplay(remote.URL)
	fail := func(err error) (PullRequestResult, error) {
		return PullRequestResult{}, wrapNoConn("opening pull request on", display, append(remote.Auth.secrets(), c.cachedTokens()...), err)
	}
	if pr.Head == "" || pr.Base == "" || pr.Title == "" {
		return fail(errors.New("head, base and title are required"))
	}
	if pr.Head == pr.Base {
		return fail(errors.New("head and base are the same branch"))
	}
	api, repo, err := prTarget(remote, pr)
	if err != nil {
		return fail(err)
	}
	hc, err := c.restClient(remote.Auth)
	if err != nil {
		return fail(err)
	}
	tok, err := c.apiToken(ctx, remote.Auth, hc)
	if err != nil {
		return fail(err)
	}
	var res PullRequestResult
	switch pr.Provider {
	case ProviderGitHub:
		res, err = githubPR(ctx, hc, api, repo, tok, pr)
	case ProviderGitLab:
		res, err = gitlabMR(ctx, hc, api, repo, tok, pr)
	case ProviderGitea:
		res, err = giteaPR(ctx, hc, api, repo, tok, pr)
	}
	if err != nil {
		return PullRequestResult{}, wrapNoConn("opening pull request on", display, append(remote.Auth.secrets(), tok), err)
	}
	return res, nil
}

func (c *Client) cachedTokens() []string {
	c.tokens.mu.Lock()
	defer c.tokens.mu.Unlock()
	var out []string
	for _, t := range c.tokens.tokens {
		out = append(out, t.value)
	}
	return out
}

func (c *Client) apiToken(ctx context.Context, a *Auth, hc *http.Client) (string, error) {
	switch {
	case a == nil:
	case a.GitHubApp != nil:
		return c.appToken(ctx, a.GitHubApp, hc)
	case a.BearerToken != "":
		return a.BearerToken, nil
	case a.Password != "":
		return a.Password, nil
	}
	return "", errors.New("no API token: set a GitHub App, bearerToken or password")
}

// prTarget works out the API root and repository path. It is pure.
func prTarget(remote Remote, pr PullRequest) (api, repo string, err error) {
	switch pr.Provider {
	case ProviderGitHub, ProviderGitLab, ProviderGitea:
	default:
		return "", "", fmt.Errorf("unknown pull request provider %q (want github, gitlab or gitea)", pr.Provider)
	}
	ep, err := parseEndpoint(remote.URL)
	if err != nil {
		return "", "", errors.New("invalid remote URL")
	}
	repo = strings.TrimSuffix(strings.Trim(pr.Repository, "/"), ".git")
	if repo == "" {
		repo = strings.TrimSuffix(strings.Trim(ep.Path, "/"), ".git")
	}
	if strings.Count(repo, "/") < 1 || (pr.Provider != ProviderGitLab && strings.Count(repo, "/") != 1) {
		return "", "", fmt.Errorf("repository %q: want owner/name", repo)
	}
	api = strings.TrimRight(pr.APIURL, "/")
	if api == "" && pr.Provider == ProviderGitHub && remote.Auth != nil && remote.Auth.GitHubApp != nil {
		api = remote.Auth.GitHubApp.apiBase()
	}
	if api == "" {
		host := ep.Host
		switch {
		case pr.Provider == ProviderGitHub && host == "github.com":
			api = DefaultGitHubAPI
		case pr.Provider == ProviderGitHub:
			api = "https://" + host + "/api/v3"
		case pr.Provider == ProviderGitLab:
			api = "https://" + host + "/api/v4"
		default:
			api = "https://" + host + "/api/v1"
		}
	}
	return api, repo, nil
}

// --- GitHub: docs.github.com/en/rest/pulls/pulls, /issues/labels ---

type githubPull struct {
	Number  int    `json:"number"`
	HTMLURL string `json:"html_url"`
}

func githubPR(ctx context.Context, hc *http.Client, api, repo, tok string, pr PullRequest) (PullRequestResult, error) {
	owner := strings.Split(repo, "/")[0]
	base := api + "/repos/" + repo
	q := url.Values{"state": {"open"}, "head": {owner + ":" + pr.Head}, "base": {pr.Base}}
	var open []githubPull
	if err := githubCall(ctx, hc, http.MethodGet, base+"/pulls?"+q.Encode(), tok, nil, &open); err != nil {
		return PullRequestResult{}, fmt.Errorf("listing pull requests: %w", err)
	}
	var p githubPull
	created := len(open) == 0
	if created {
		in := map[string]string{"title": pr.Title, "head": pr.Head, "base": pr.Base, "body": pr.Body}
		if err := githubCall(ctx, hc, http.MethodPost, base+"/pulls", tok, in, &p); err != nil {
			return PullRequestResult{}, fmt.Errorf("creating pull request: %w", err)
		}
	} else {
		in := map[string]string{"title": pr.Title, "body": pr.Body}
		if err := githubCall(ctx, hc, http.MethodPatch, fmt.Sprintf("%s/pulls/%d", base, open[0].Number), tok, in, &p); err != nil {
			return PullRequestResult{}, fmt.Errorf("updating pull request #%d: %w", open[0].Number, err)
		}
	}
	if len(pr.Labels) > 0 {
		in := map[string][]string{"labels": pr.Labels}
		if err := githubCall(ctx, hc, http.MethodPost, fmt.Sprintf("%s/issues/%d/labels", base, p.Number), tok, in, nil); err != nil {
			return PullRequestResult{}, fmt.Errorf("adding labels to pull request #%d: %w", p.Number, err)
		}
	}
	return PullRequestResult{URL: p.HTMLURL, Number: p.Number, Created: created}, nil
}

// --- GitLab: docs.gitlab.com/api/merge_requests ---

type gitlabMRView struct {
	IID    int    `json:"iid"`
	WebURL string `json:"web_url"`
}

func gitlabCall(ctx context.Context, hc *http.Client, method, u, tok string, in, out any) error {
	return restCall(ctx, hc, method, u, in, out, func(h http.Header) { h.Set("PRIVATE-TOKEN", tok) })
}

func gitlabMR(ctx context.Context, hc *http.Client, api, project, tok string, pr PullRequest) (PullRequestResult, error) {
	base := api + "/projects/" + url.PathEscape(project) + "/merge_requests"
	q := url.Values{"state": {"opened"}, "source_branch": {pr.Head}, "target_branch": {pr.Base}}
	var open []gitlabMRView
	if err := gitlabCall(ctx, hc, http.MethodGet, base+"?"+q.Encode(), tok, nil, &open); err != nil {
		return PullRequestResult{}, fmt.Errorf("listing merge requests: %w", err)
	}
	labels := strings.Join(pr.Labels, ",")
	var mr gitlabMRView
	created := len(open) == 0
	if created {
		in := map[string]string{"source_branch": pr.Head, "target_branch": pr.Base, "title": pr.Title, "description": pr.Body, "labels": labels}
		if err := gitlabCall(ctx, hc, http.MethodPost, base, tok, in, &mr); err != nil {
			return PullRequestResult{}, fmt.Errorf("creating merge request: %w", err)
		}
	} else {
		in := map[string]string{"title": pr.Title, "description": pr.Body}
		if labels != "" {
			in["add_labels"] = labels
		}
		if err := gitlabCall(ctx, hc, http.MethodPut, fmt.Sprintf("%s/%d", base, open[0].IID), tok, in, &mr); err != nil {
			return PullRequestResult{}, fmt.Errorf("updating merge request !%d: %w", open[0].IID, err)
		}
	}
	return PullRequestResult{URL: mr.WebURL, Number: mr.IID, Created: created}, nil
}

// --- Gitea / Forgejo: the API v1 swagger ---

type giteaPull struct {
	Number  int    `json:"number"`
	HTMLURL string `json:"html_url"`
	Head    struct {
		Ref string `json:"ref"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

func giteaCall(ctx context.Context, hc *http.Client, method, u, tok string, in, out any) error {
	return restCall(ctx, hc, method, u, in, out, func(h http.Header) { h.Set("Authorization", "token "+tok) })
}

// giteaMaxPages bounds paging through open pull requests and labels.
const giteaMaxPages = 100

func giteaPR(ctx context.Context, hc *http.Client, api, repo, tok string, pr PullRequest) (PullRequestResult, error) {
	base := api + "/repos/" + repo
	var found *giteaPull
	for page := 1; page <= giteaMaxPages && found == nil; page++ {
		var list []giteaPull
		u := fmt.Sprintf("%s/pulls?state=open&limit=50&page=%d", base, page)
		if err := giteaCall(ctx, hc, http.MethodGet, u, tok, nil, &list); err != nil {
			return PullRequestResult{}, fmt.Errorf("listing pull requests: %w", err)
		}
		if len(list) == 0 {
			break
		}
		for i := range list {
			if list[i].Head.Ref == pr.Head && list[i].Base.Ref == pr.Base {
				found = &list[i]
				break
			}
		}
	}
	var p giteaPull
	created := found == nil
	if created {
		in := map[string]string{"head": pr.Head, "base": pr.Base, "title": pr.Title, "body": pr.Body}
		if err := giteaCall(ctx, hc, http.MethodPost, base+"/pulls", tok, in, &p); err != nil {
			return PullRequestResult{}, fmt.Errorf("creating pull request: %w", err)
		}
	} else {
		in := map[string]string{"title": pr.Title, "body": pr.Body}
		if err := giteaCall(ctx, hc, http.MethodPatch, fmt.Sprintf("%s/pulls/%d", base, found.Number), tok, in, &p); err != nil {
			return PullRequestResult{}, fmt.Errorf("updating pull request #%d: %w", found.Number, err)
		}
	}
	if len(pr.Labels) > 0 {
		ids, err := giteaLabelIDs(ctx, hc, base, tok, pr.Labels)
		if err != nil {
			return PullRequestResult{}, err
		}
		if err := giteaCall(ctx, hc, http.MethodPost, fmt.Sprintf("%s/issues/%d/labels", base, p.Number), tok, map[string][]int64{"labels": ids}, nil); err != nil {
			return PullRequestResult{}, fmt.Errorf("adding labels to pull request #%d: %w", p.Number, err)
		}
	}
	return PullRequestResult{URL: p.HTMLURL, Number: p.Number, Created: created}, nil
}

// giteaLabelIDs maps label names to IDs, creating missing labels (Gitea
// adds labels to issues by ID, and a label needs a colour).
func giteaLabelIDs(ctx context.Context, hc *http.Client, base, tok string, names []string) ([]int64, error) {
	type label struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	have := map[string]int64{}
	for page := 1; page <= giteaMaxPages; page++ {
		var list []label
		if err := giteaCall(ctx, hc, http.MethodGet, fmt.Sprintf("%s/labels?limit=50&page=%d", base, page), tok, nil, &list); err != nil {
			return nil, fmt.Errorf("listing labels: %w", err)
		}
		if len(list) == 0 {
			break
		}
		for _, l := range list {
			have[l.Name] = l.ID
		}
	}
	var ids []int64
	for _, n := range names {
		id, ok := have[n]
		if !ok {
			var l label
			if err := giteaCall(ctx, hc, http.MethodPost, base+"/labels", tok, map[string]string{"name": n, "color": "#ededed"}, &l); err != nil {
				return nil, fmt.Errorf("creating label %q: %w", n, err)
			}
			id = l.ID
			have[n] = id
		}
		ids = append(ids, id)
	}
	return ids, nil
}

package forgetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// GitLab stands in for GitLab's merge requests API (docs.gitlab.com/api/
// merge_requests): projects addressed by URL-encoded path, tokens in the
// PRIVATE-TOKEN header, labels as comma-separated strings.
type GitLab struct {
	store
	Server *httptest.Server
	token  string
}

// StartGitLab starts a GitLab stand-in that accepts token.
func StartGitLab(t testing.TB, token string) *GitLab {
	g := &GitLab{token: token}
	g.Server = start(t, g)
	return g
}

// URL is the API root, .../api/v4.
func (g *GitLab) URL() string { return g.Server.URL + "/api/v4" }

type glMR struct {
	IID          int      `json:"iid"`
	WebURL       string   `json:"web_url"`
	Title        string   `json:"title"`
	Description  string   `json:"description"`
	State        string   `json:"state"`
	SourceBranch string   `json:"source_branch"`
	TargetBranch string   `json:"target_branch"`
	Labels       []string `json:"labels"`
}

func (g *GitLab) view(project string, p *PR) glMR {
	st := "opened"
	if !p.Open {
		st = "closed"
	}
	return glMR{IID: p.Number, WebURL: fmt.Sprintf("%s/%s/-/merge_requests/%d", g.Server.URL, project, p.Number), Title: p.Title,
		Description: p.Body, State: st, SourceBranch: p.Head, TargetBranch: p.Base, Labels: append([]string{}, p.Labels...)}
}

func splitLabels(s string) []string {
	var out []string
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (g *GitLab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.record(r)
	if r.Header.Get("PRIVATE-TOKEN") != g.token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return
	}
	// /api/v4/projects/:id/merge_requests[/:iid]; :id is the URL-encoded path
	raw := r.URL.EscapedPath()
	rest, ok := strings.CutPrefix(raw, "/api/v4/projects/")
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not Found"})
		return
	}
	parts := strings.Split(rest, "/")
	project, err := url.PathUnescape(parts[0])
	if err != nil || len(parts) < 2 || parts[1] != "merge_requests" {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
		return
	}
	g.store.mu.Lock()
	defer g.store.mu.Unlock()
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		q := r.URL.Query()
		out := []glMR{}
		for _, p := range g.prs[project] {
			if (q.Get("state") == "opened" && !p.Open) || (q.Get("source_branch") != "" && p.Head != q.Get("source_branch")) ||
				(q.Get("target_branch") != "" && p.Base != q.Get("target_branch")) {
				continue
			}
			out = append(out, g.view(project, p))
		}
		writeJSON(w, http.StatusOK, out)
	case len(parts) == 2 && r.Method == http.MethodPost:
		var in struct {
			SourceBranch string `json:"source_branch"`
			TargetBranch string `json:"target_branch"`
			Title        string `json:"title"`
			Description  string `json:"description"`
			Labels       string `json:"labels"`
		}
		if !decode(r, &in) || in.SourceBranch == "" || in.TargetBranch == "" || in.Title == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "400 Bad request"})
			return
		}
		if g.find(project, in.SourceBranch, in.TargetBranch) != nil {
			writeJSON(w, http.StatusConflict, map[string]any{"message": []string{"Another open merge request already exists for this source branch"}})
			return
		}
		p := g.create(project, &PR{Head: in.SourceBranch, Base: in.TargetBranch, Title: in.Title, Body: in.Description, Labels: splitLabels(in.Labels)})
		writeJSON(w, http.StatusCreated, g.view(project, p))
	case len(parts) == 3 && r.Method == http.MethodPut:
		p := g.get(project, atoi(parts[2]))
		var in struct {
			Title       *string `json:"title"`
			Description *string `json:"description"`
			AddLabels   string  `json:"add_labels"`
		}
		if p == nil || !decode(r, &in) {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not found"})
			return
		}
		if in.Title != nil {
			p.Title = *in.Title
		}
		if in.Description != nil {
			p.Body = *in.Description
		}
		addLabels(p, splitLabels(in.AddLabels))
		writeJSON(w, http.StatusOK, g.view(project, p))
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not Found"})
	}
}

package forgetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Gitea stands in for the Gitea (and Forgejo) API v1 (the swagger at
// /api/swagger): "Authorization: token T", pull requests listed page by
// page, labels added to issues by ID.
type Gitea struct {
	store
	Server *httptest.Server
	token  string
	labels map[string][]string // repo -> label names; ID = index+1
}

// StartGitea starts a Gitea stand-in that accepts token.
func StartGitea(t testing.TB, token string) *Gitea {
	g := &Gitea{token: token, labels: map[string][]string{}}
	g.Server = start(t, g)
	return g
}

// URL is the API root, .../api/v1.
func (g *Gitea) URL() string { return g.Server.URL + "/api/v1" }

type gtPR struct {
	Number  int    `json:"number"`
	HTMLURL string `json:"html_url"`
	Title   string `json:"title"`
	Body    string `json:"body"`
	State   string `json:"state"`
	Head    struct {
		Ref string `json:"ref"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

func (g *Gitea) view(repo string, p *PR) gtPR {
	v := gtPR{Number: p.Number, HTMLURL: fmt.Sprintf("%s/%s/pulls/%d", g.Server.URL, repo, p.Number), Title: p.Title, Body: p.Body, State: "open"}
	if !p.Open {
		v.State = "closed"
	}
	v.Head.Ref, v.Base.Ref = p.Head, p.Base
	return v
}

const giteaPageSize = 2 // small, so clients must page

func (g *Gitea) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.record(r)
	if r.Header.Get("Authorization") != "token "+g.token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "token is required"})
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v1/repos/")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if !ok || len(parts) < 3 {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
		return
	}
	repo, rest := parts[0]+"/"+parts[1], parts[2:]
	g.store.mu.Lock()
	defer g.store.mu.Unlock()
	q := r.URL.Query()
	page := max(atoi(q.Get("page")), 1)
	switch {
	case len(rest) == 1 && rest[0] == "pulls" && r.Method == http.MethodGet:
		var all []gtPR
		for _, p := range g.prs[repo] {
			if q.Get("state") == "open" && !p.Open {
				continue
			}
			all = append(all, g.view(repo, p))
		}
		writeJSON(w, http.StatusOK, pageOf(all, page))
	case len(rest) == 1 && rest[0] == "pulls" && r.Method == http.MethodPost:
		var in struct{ Head, Base, Title, Body string }
		if !decode(r, &in) || in.Head == "" || in.Base == "" || in.Title == "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "invalid"})
			return
		}
		if g.find(repo, in.Head, in.Base) != nil {
			writeJSON(w, http.StatusConflict, map[string]string{"message": "pull request already exists for these targets"})
			return
		}
		writeJSON(w, http.StatusCreated, g.view(repo, g.create(repo, &PR{Head: in.Head, Base: in.Base, Title: in.Title, Body: in.Body})))
	case len(rest) == 2 && rest[0] == "pulls" && r.Method == http.MethodPatch:
		p := g.get(repo, atoi(rest[1]))
		var in struct{ Title, Body *string }
		if p == nil || !decode(r, &in) {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
			return
		}
		if in.Title != nil {
			p.Title = *in.Title
		}
		if in.Body != nil {
			p.Body = *in.Body
		}
		writeJSON(w, http.StatusCreated, g.view(repo, p))
	case len(rest) == 1 && rest[0] == "labels" && r.Method == http.MethodGet:
		var all []map[string]any
		for i, n := range g.labels[repo] {
			all = append(all, map[string]any{"id": i + 1, "name": n})
		}
		writeJSON(w, http.StatusOK, pageOf(all, page))
	case len(rest) == 1 && rest[0] == "labels" && r.Method == http.MethodPost:
		var in struct{ Name, Color string }
		if !decode(r, &in) || in.Name == "" || in.Color == "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "name and color are required"})
			return
		}
		g.labels[repo] = append(g.labels[repo], in.Name)
		writeJSON(w, http.StatusCreated, map[string]any{"id": len(g.labels[repo]), "name": in.Name})
	case len(rest) == 3 && rest[0] == "issues" && rest[2] == "labels" && r.Method == http.MethodPost:
		p := g.get(repo, atoi(rest[1]))
		var in struct{ Labels []int }
		if p == nil || !decode(r, &in) {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
			return
		}
		for _, id := range in.Labels {
			if id < 1 || id > len(g.labels[repo]) {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "label does not exist"})
				return
			}
			addLabels(p, []string{g.labels[repo][id-1]})
		}
		writeJSON(w, http.StatusOK, []any{})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
	}
}

func pageOf[T any](all []T, page int) []T {
	lo := (page - 1) * giteaPageSize
	if lo >= len(all) {
		return []T{}
	}
	return all[lo:min(lo+giteaPageSize, len(all))]
}

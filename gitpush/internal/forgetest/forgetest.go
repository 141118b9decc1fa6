// Package forgetest holds local stand-ins for the REST APIs gitpush talks
// to: GitHub (App installation tokens and pull requests), GitLab (merge
// requests) and Gitea/Forgejo (pull requests). Each is written from the
// provider's public API documentation, keeps its state in memory, checks
// credentials the way the real service does (a GitHub App JWT is verified
// against the app's public key), and answers only on 127.0.0.1.
package forgetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// PR is a pull (or merge) request as a stand-in stores it.
type PR struct {
	Number int
	Head   string
	Base   string
	Title  string
	Body   string
	Labels []string
	Open   bool
}

// store is the shared bookkeeping of the stand-ins.
type store struct {
	mu       sync.Mutex
	prs      map[string][]*PR // by repository
	requests []string         // "METHOD path"
}

func (s *store) record(r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
}

// PRs returns copies of the pull requests of repo.
func (s *store) PRs(repo string) []PR {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PR
	for _, p := range s.prs[repo] {
		cp := *p
		cp.Labels = append([]string(nil), p.Labels...)
		out = append(out, cp)
	}
	return out
}

// Requests returns "METHOD path" of every request, oldest first.
func (s *store) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *store) find(repo, head, base string) *PR {
	for _, p := range s.prs[repo] {
		if p.Open && p.Head == head && p.Base == base {
			return p
		}
	}
	return nil
}

func (s *store) create(repo string, p *PR) *PR {
	if s.prs == nil {
		s.prs = map[string][]*PR{}
	}
	p.Number = len(s.prs[repo]) + 1
	p.Open = true
	s.prs[repo] = append(s.prs[repo], p)
	return p
}

func (s *store) get(repo string, n int) *PR {
	if n < 1 || n > len(s.prs[repo]) {
		return nil
	}
	return s.prs[repo][n-1]
}

// ClosePR marks a pull request closed, as if someone merged or closed it.
func (s *store) ClosePR(repo string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.get(repo, n); p != nil {
		p.Open = false
	}
}

func addLabels(p *PR, labels []string) {
	for _, l := range labels {
		found := false
		for _, have := range p.Labels {
			found = found || have == l
		}
		if !found {
			p.Labels = append(p.Labels, l)
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(r *http.Request, v any) bool {
	return json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(v) == nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func start(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

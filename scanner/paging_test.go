package scanner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

func TestNextLink(t *testing.T) {
	tests := []struct {
		values []string
		want   string
	}{
		{values: nil, want: ""},
		{values: []string{`</v2/a/tags/list?last=b&n=2>; rel="next"`}, want: "/v2/a/tags/list?last=b&n=2"},
		{values: []string{`<https://r.example/v2/a/tags/list?n=2&last=b>; rel=next`}, want: "https://r.example/v2/a/tags/list?n=2&last=b"},
		{values: []string{`</first>; rel="first", </v2/a/tags/list?last=c>; rel="next"`}, want: "/v2/a/tags/list?last=c"},
		{values: []string{`</prev>; rel="prev"`, `</v2/x>; rel="last next"`}, want: "/v2/x"},
		{values: []string{`</v2/x>; title="next"`}, want: ""},
		{values: []string{`garbage`}, want: ""},
	}
	for _, tt := range tests {
		if got := nextLink(tt.values); got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.values, got, tt.want)
		}
	}
}

func TestResolveLink(t *testing.T) {
	cur, _ := url.Parse("https://r.example:5000/v2/a/tags/list?n=100")
	tests := []struct {
		link    string
		want    string
		wantErr bool
	}{
		{link: "/v2/a/tags/list?last=x&n=100", want: "https://r.example:5000/v2/a/tags/list?last=x&n=100"},
		{link: "https://r.example:5000/v2/a/tags/list?last=x", want: "https://r.example:5000/v2/a/tags/list?last=x"},
		{link: "https://r.example/v2/a/tags/list?last=x", want: "https://r.example:5000/v2/a/tags/list?last=x"},
		{link: "http://R.example/v2/a/tags/list?last=x", want: "https://r.example:5000/v2/a/tags/list?last=x"},
		{link: "https://evil.example/v2/a/tags/list?last=x", wantErr: true},
		{link: "https://r.example:6000/v2/a/tags/list?last=x", wantErr: true},
		{link: "/metadata/token", wantErr: true},
	}
	for _, tt := range tests {
		got, err := resolveLink(cur, tt.link)
		if tt.wantErr {
			if !errors.Is(err, ErrPagination) {
				t.Errorf("resolveLink(%q) = %v, %v; want ErrPagination", tt.link, got, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("resolveLink(%q) = %v, %v; want %s", tt.link, got, err, tt.want)
		}
	}
}

// brokenRegistry stands in for registries with pagination bugs that no
// real registry implementation reproduces on demand: its tag list answers
// with the page function's tags and link.
func brokenRegistry(t *testing.T, page func(r *http.Request) (tags []string, link string)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		tags, link := page(r)
		if link != "" {
			w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", link))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"name":"a/b","tags":%s}`, mustJSON(tags))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func mustJSON(tags []string) string {
	out := "["
	for i, tag := range tags {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf("%q", tag)
	}
	return out + "]"
}

func TestListTagsStopsOnBrokenPagination(t *testing.T) {
	tests := []struct {
		name string
		page func(r *http.Request) ([]string, string)
	}{
		{
			name: "link to itself",
			page: func(r *http.Request) ([]string, string) {
				if r.URL.Query().Get("last") == "" {
					return []string{"a", "b"}, "/v2/a/b/tags/list?last=b"
				}
				return []string{"c"}, "/v2/a/b/tags/list?last=b"
			},
		},
		{
			name: "pages that repeat the first forever",
			page: func(r *http.Request) ([]string, string) {
				n := len(r.URL.Query()["last"])
				return []string{"a", "b"}, fmt.Sprintf("/v2/a/b/tags/list?last=b%s", url.Values{"x": {fmt.Sprint(n)}}.Encode())
			},
		},
		{
			name: "link to another host",
			page: func(r *http.Request) ([]string, string) {
				return []string{"a"}, "http://elsewhere.example/v2/a/b/tags/list?last=a"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := brokenRegistry(t, tt.page)
			s, _ := newTestScanner(t)
			_, err := s.ListTags(t.Context(), Target{Image: host + "/a/b", Insecure: true})
			if !errors.Is(err, ErrPagination) {
				t.Fatalf("ListTags = %v, want ErrPagination", err)
			}
		})
	}
}

func TestTokensAndPingsAreReused(t *testing.T) {
	reg := registry.Start(t, registry.WithTLS(), registry.WithTokenAuth("ci", "ci-pw"))
	reg.PushTags(t, "team/app", "1", "2")
	reg.PushTags(t, "team/other", "3")
	s, _ := newTestScanner(t)
	scan := func(repo string) {
		tg := tlsTarget(reg, repo)
		tg.Auth = Auth{Username: "ci", Password: "ci-pw"}
		if _, err := s.ListTags(t.Context(), tg); err != nil {
			t.Fatalf("ListTags(%s): %v", repo, err)
		}
	}
	scan("team/app")
	scan("team/app")
	scan("team/app")
	if got := reg.TokenRequests(); got != 1 {
		t.Errorf("token requests after three scans of one repository = %d, want 1", got)
	}
	scan("team/other")
	if got := reg.TokenRequests(); got != 2 {
		t.Errorf("token requests after scanning a second repository = %d, want 2", got)
	}
	if got := countRequests(reg, http.MethodGet, "/v2/"); got != 1 {
		t.Errorf("pings = %d, want 1 for one host", got)
	}
	// Another credential gets its own token.
	reg2 := registry.Start(t, registry.WithTokenAuth("ci", "ci-pw"), registry.WithTokenAuth("bot", "bot-pw"))
	reg2.PushTags(t, "team/app", "1")
	for _, user := range []string{"ci", "bot", "ci"} {
		tg := insecureTarget(reg2, "team/app")
		tg.Auth = Auth{Username: user, Password: user + "-pw"}
		if _, err := s.ListTags(t.Context(), tg); err != nil {
			t.Fatalf("ListTags as %s: %v", user, err)
		}
	}
	if got := reg2.TokenRequests(); got != 2 {
		t.Errorf("token requests for two users = %d, want 2", got)
	}
}

func TestExpiredTokenIsRefreshed(t *testing.T) {
	reg := registry.Start(t, registry.WithTokenAuth("ci", "ci-pw"))
	reg.PushTags(t, "team/app", "1")
	clock := &steppingClock{fastClock: &fastClock{}}
	s, _ := newTestScanner(t, WithClock(clock))
	tg := insecureTarget(reg, "team/app")
	tg.Auth = Auth{Username: "ci", Password: "ci-pw"}
	for range 2 {
		got, err := s.ListTags(t.Context(), tg)
		if err != nil {
			t.Fatalf("ListTags: %v", err)
		}
		if diff := cmp.Diff([]string{"1"}, got.Tags); diff != "" {
			t.Errorf("ListTags().Tags (-want +got):\n%s", diff)
		}
		clock.advance(24 * time.Hour) // a day: every cached token is stale
	}
	if got := reg.TokenRequests(); got != 2 {
		t.Errorf("token requests = %d, want 2 (one per expired token)", got)
	}
}

// Scans that need the same token while it is being fetched wait for that
// exchange instead of making their own; a scan whose exchange is cancelled
// does not fail the scans waiting on it.
func TestConcurrentScansShareOneTokenExchange(t *testing.T) {
	reg := registry.Start(t, registry.WithTokenAuth("ci", "ci-pw"))
	reg.PushTags(t, "team/app", "1", "2")
	s, _ := newTestScanner(t)
	tg := insecureTarget(reg, "team/app")
	tg.Auth = Auth{Username: "ci", Password: "ci-pw"}

	var mu sync.Mutex
	calls := 0
	started, release := make(chan struct{}), make(chan struct{})
	real := exchangeToken
	exchangeToken = func(ctx context.Context, reg name.Registry, auth authn.Authenticator, rt http.RoundTripper, scopes []string, ch *transport.Challenge) (*transport.Token, error) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			close(started)
			<-release
			return nil, context.Canceled // as if the first scan was cancelled
		}
		return real(ctx, reg, auth, rt, scopes, ch)
	}
	t.Cleanup(func() { exchangeToken = real })

	errs := make(chan error, 3)
	go func() { _, err := s.ListTags(t.Context(), tg); errs <- err }()
	<-started
	for range 2 {
		go func() { _, err := s.ListTags(t.Context(), tg); errs <- err }()
	}
	// Wait until both later scans have joined the first exchange, or one
	// of them has made an exchange of its own (the failure this is about).
	for {
		s.mu.Lock()
		waiters := 0
		for _, f := range s.tokenFetches {
			waiters += f.waiters
		}
		s.mu.Unlock()
		mu.Lock()
		n := calls
		mu.Unlock()
		if waiters == 2 || n > 1 {
			break
		}
		runtime.Gosched()
	}
	mu.Lock()
	if calls != 1 {
		t.Errorf("token exchanges while the first was under way = %d, want 1", calls)
	}
	mu.Unlock()
	close(release)
	var failed int
	for range 3 {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d scans failed, want 1 (the one whose exchange was cancelled)", failed)
	}
	// The two waiting scans retried: one exchange, shared again.
	if calls != 2 {
		t.Errorf("token exchanges = %d, want 2", calls)
	}
	if got := reg.TokenRequests(); got != 1 {
		t.Errorf("token requests at the registry = %d, want 1", got)
	}
}

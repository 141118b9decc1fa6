package scanner

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

func TestListTagsAuthModes(t *testing.T) {
	tags := []string{"1.0.0", "1.1.0", "2.0.0", "latest"}
	tests := []struct {
		name     string
		opts     []registry.Option
		target   func(reg *registry.Registry) Target
		wantCred string
	}{
		{
			name:     "anonymous over plain HTTP",
			target:   func(reg *registry.Registry) Target { return insecureTarget(reg, "team/app") },
			wantCred: "anonymous",
		},
		{
			name:     "anonymous over TLS with the CA from a secret",
			opts:     []registry.Option{registry.WithTLS()},
			target:   func(reg *registry.Registry) Target { return tlsTarget(reg, "team/app") },
			wantCred: "anonymous",
		},
		{
			name: "basic auth",
			opts: []registry.Option{registry.WithTLS(), registry.WithBasicAuth("alice", "wonderland-pw")},
			target: func(reg *registry.Registry) Target {
				tg := tlsTarget(reg, "team/app")
				tg.Auth = Auth{Username: "alice", Password: "wonderland-pw"}
				return tg
			},
			wantCred: "basic auth as user alice",
		},
		{
			name: "docker config entry with auth field",
			opts: []registry.Option{registry.WithBasicAuth("bob", "builder-pw")},
			target: func(reg *registry.Registry) Target {
				tg := insecureTarget(reg, "team/app")
				tg.Auth.DockerConfigs = []*DockerConfig{mustDockerConfig(t,
					`{"auths":{"other.example":{"auth":"eDp5"},"http://`+reg.Host()+`/v1/":{"auth":"Ym9iOmJ1aWxkZXItcHc="}}}`)}
				return tg
			},
			wantCred: "docker config entry for http://",
		},
		{
			name: "bearer token auth",
			opts: []registry.Option{registry.WithTLS(), registry.WithTokenAuth("carol", "token-pw")},
			target: func(reg *registry.Registry) Target {
				tg := tlsTarget(reg, "team/app")
				tg.Auth = Auth{Username: "carol", Password: "token-pw"}
				return tg
			},
			wantCred: "basic auth as user carol",
		},
		{
			name: "mutual TLS",
			opts: []registry.Option{registry.WithTLS(), registry.WithClientCertAuth()},
			target: func(reg *registry.Registry) Target {
				cert, key, err := reg.IssueClientCert("scanner")
				if err != nil {
					t.Fatal(err)
				}
				tg := tlsTarget(reg, "team/app")
				tg.TLS.Cert, tg.TLS.Key = cert, key
				return tg
			},
			wantCred: "anonymous",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registry.Start(t, tt.opts...)
			reg.PushTags(t, "team/app", tags...)
			s, _ := newTestScanner(t)
			got, err := s.ListTags(t.Context(), tt.target(reg))
			if err != nil {
				t.Fatalf("ListTags: %v", err)
			}
			if diff := cmp.Diff(tags, got.Tags); diff != "" {
				t.Errorf("ListTags().Tags (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(got.Credential, tt.wantCred) {
				t.Errorf("ListTags().Credential = %q, want prefix %q", got.Credential, tt.wantCred)
			}
			if want := reg.Host() + "/team/app"; got.Repository != want {
				t.Errorf("ListTags().Repository = %q, want %q", got.Repository, want)
			}
		})
	}
}

func mustDockerConfig(t testing.TB, js string) *DockerConfig {
	t.Helper()
	cfg, err := ParseDockerConfigJSON([]byte(js))
	if err != nil {
		t.Fatalf("ParseDockerConfigJSON: %v", err)
	}
	return cfg
}

func TestListTagsPagination(t *testing.T) {
	const count = 250
	all := tagNames("v", count)
	tests := []struct {
		name      string
		opts      []registry.Option
		pageSize  int
		wantPages int
		wantN     string // the n of the last tags/list request
	}{
		{name: "one page of the default size", wantPages: 1, wantN: "1000"},
		{name: "small pages with relative links", pageSize: 40, wantPages: 7, wantN: "40"},
		{name: "registry caps pages", opts: []registry.Option{registry.WithMaxPageSize(100)}, wantPages: 3, wantN: "100"},
		{name: "absolute links", opts: []registry.Option{registry.WithLinkStyle(registry.LinkAbsolute)}, pageSize: 100, wantPages: 3, wantN: "100"},
		{name: "absolute links without the port", opts: []registry.Option{registry.WithLinkStyle(registry.LinkWithoutPort)}, pageSize: 60, wantPages: 5, wantN: "60"},
		{name: "registry rejects large n", opts: []registry.Option{registry.WithRejectPageSizeAbove(100), registry.WithMaxPageSize(100)}, wantPages: 3, wantN: "100"},
		{name: "pages that end exactly at the last tag", pageSize: 50, wantPages: 6, wantN: "50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registry.Start(t, tt.opts...)
			reg.PushTags(t, "big/app", all...)
			var opts []Option
			if tt.pageSize > 0 {
				opts = append(opts, WithPageSize(tt.pageSize))
			}
			s, _ := newTestScanner(t, opts...)
			got, err := s.ListTags(t.Context(), insecureTarget(reg, "big/app"))
			if err != nil {
				t.Fatalf("ListTags: %v", err)
			}
			if diff := cmp.Diff(all, got.Tags); diff != "" {
				t.Errorf("ListTags().Tags (-want +got):\n%s", diff)
			}
			if got.Pages != tt.wantPages {
				t.Errorf("ListTags().Pages = %d, want %d", got.Pages, tt.wantPages)
			}
			var last string
			for _, r := range reg.Requests() {
				if strings.HasSuffix(r.Path, "/tags/list") {
					last = r.Query
				}
			}
			if !strings.Contains(last, "n="+tt.wantN) {
				t.Errorf("last tags/list query = %q, want n=%s", last, tt.wantN)
			}
		})
	}
}

func TestListTagsRemembersSmallPages(t *testing.T) {
	reg := registry.Start(t, registry.WithRejectPageSizeAbove(100))
	reg.PushTags(t, "a/b", "1", "2")
	s, _ := newTestScanner(t)
	for range 2 {
		if _, err := s.ListTags(t.Context(), insecureTarget(reg, "a/b")); err != nil {
			t.Fatalf("ListTags: %v", err)
		}
	}
	var statuses []int
	for _, r := range reg.Requests() {
		if strings.HasSuffix(r.Path, "/tags/list") {
			statuses = append(statuses, r.Status)
		}
	}
	if diff := cmp.Diff([]int{400, 200, 200}, statuses); diff != "" {
		t.Errorf("tags/list statuses (-want +got):\n%s", diff)
	}
}

func TestListTagsExclusion(t *testing.T) {
	reg := registry.Start(t)
	reg.PushTags(t, "signed/app", "1.0.0", "sha256-abc.sig", "sha256-abc.att", "1.1.0-rc.1", "1.1.0")
	tests := []struct {
		name         string
		exclusions   []string
		want         []string
		wantExcluded int
	}{
		{name: "default drops signatures", exclusions: nil,
			want: []string{"1.0.0", "1.1.0", "1.1.0-rc.1", "sha256-abc.att"}, wantExcluded: 1},
		{name: "empty list keeps everything", exclusions: []string{},
			want: []string{"1.0.0", "1.1.0", "1.1.0-rc.1", "sha256-abc.att", "sha256-abc.sig"}},
		{name: "custom list", exclusions: []string{`^sha256-`, `-rc\.`},
			want: []string{"1.0.0", "1.1.0"}, wantExcluded: 3},
	}
	s, _ := newTestScanner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := insecureTarget(reg, "signed/app")
			tg.ExclusionList = tt.exclusions
			got, err := s.ListTags(t.Context(), tg)
			if err != nil {
				t.Fatalf("ListTags: %v", err)
			}
			if diff := cmp.Diff(tt.want, got.Tags); diff != "" {
				t.Errorf("ListTags().Tags (-want +got):\n%s", diff)
			}
			if got.Excluded != tt.wantExcluded {
				t.Errorf("ListTags().Excluded = %d, want %d", got.Excluded, tt.wantExcluded)
			}
		})
	}
	t.Run("bad regexp is invalid", func(t *testing.T) {
		tg := insecureTarget(reg, "signed/app")
		tg.ExclusionList = []string{"("}
		_, err := s.ListTags(t.Context(), tg)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ListTags with exclusion \"(\" = %v, want ErrInvalid", err)
		}
	})
}

func TestListTagsLimits(t *testing.T) {
	reg := registry.Start(t)
	reg.PushTags(t, "many/app", tagNames("t", 120)...)
	tests := []struct {
		name string
		opts []Option
	}{
		{name: "too many tags", opts: []Option{WithPageSize(50), WithMaxTags(100)}},
		{name: "too many pages", opts: []Option{WithPageSize(10), WithMaxPages(5)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestScanner(t, tt.opts...)
			_, err := s.ListTags(t.Context(), insecureTarget(reg, "many/app"))
			if !errors.Is(err, ErrTooManyTags) {
				t.Fatalf("ListTags = %v, want ErrTooManyTags", err)
			}
			if IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = true, want false", err)
			}
		})
	}
}

func TestListTagsRefusesPlainHTTPUnlessInsecure(t *testing.T) {
	reg := registry.Start(t)
	reg.PushTags(t, "a/b", "1")
	s, _ := newTestScanner(t)
	_, err := s.ListTags(t.Context(), Target{Image: reg.Repo("a/b")})
	if err == nil {
		t.Fatal("ListTags of a plain-HTTP registry without Insecure succeeded, want an error")
	}
	if IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
	for _, r := range reg.Requests() {
		t.Errorf("registry saw %s %s over plain HTTP", r.Method, r.Path)
	}
}

func TestListTagsErrors(t *testing.T) {
	tests := []struct {
		name      string
		opts      []registry.Option
		target    func(reg *registry.Registry) Target
		wantIs    error
		wantCode  int
		wantCred  string
		retryable bool
	}{
		{
			name:     "wrong password is 401 and names the user",
			opts:     []registry.Option{registry.WithBasicAuth("alice", "right-pw")},
			target:   withBasic("alice", "wrong-pw"),
			wantIs:   ErrUnauthorized,
			wantCode: 401,
			wantCred: "basic auth as user alice",
		},
		{
			name:     "anonymous against an authenticating registry",
			opts:     []registry.Option{registry.WithBasicAuth("alice", "right-pw")},
			target:   withBasic("", ""),
			wantIs:   ErrUnauthorized,
			wantCode: 401,
			wantCred: "anonymous",
		},
		{
			name:     "wrong password at the token server",
			opts:     []registry.Option{registry.WithTokenAuth("carol", "right-pw")},
			target:   withBasic("carol", "wrong-pw"),
			wantIs:   ErrUnauthorized,
			wantCode: 401,
			wantCred: "basic auth as user carol",
		},
		{
			name: "token server forbids the repository",
			opts: []registry.Option{
				registry.WithTokenAuth("carol", "right-pw", registry.Grant{Name: "other/*", Actions: []string{"pull"}}),
				registry.WithTokenDenyForbidden(),
			},
			target:   withBasic("carol", "right-pw"),
			wantIs:   ErrForbidden,
			wantCode: 403,
			wantCred: "basic auth as user carol",
		},
		{
			name: "token without the scope",
			opts: []registry.Option{
				registry.WithTokenAuth("carol", "right-pw", registry.Grant{Name: "other/app", Actions: []string{"pull"}}),
			},
			target:   withBasic("carol", "right-pw"),
			wantIs:   ErrUnauthorized,
			wantCode: 401,
			wantCred: "basic auth as user carol",
		},
		{
			name: "unknown repository is 404",
			target: func(reg *registry.Registry) Target {
				return insecureTarget(reg, "no/such")
			},
			wantIs:   ErrNotFound,
			wantCode: 404,
			wantCred: "anonymous",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registry.Start(t, tt.opts...)
			reg.PushTags(t, "team/app", "1.0.0")
			s, clock := newTestScanner(t)
			_, err := s.ListTags(t.Context(), tt.target(reg))
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("ListTags = %v, want %v", err, tt.wantIs)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ListTags error %T is not a *Error", err)
			}
			if e.StatusCode != tt.wantCode || e.Credential != tt.wantCred || e.Retryable != tt.retryable {
				t.Errorf("ListTags error = {Status %d, Credential %q, Retryable %t}, want {%d, %q, %t}",
					e.StatusCode, e.Credential, e.Retryable, tt.wantCode, tt.wantCred, tt.retryable)
			}
			if !strings.Contains(err.Error(), tt.wantCred) {
				t.Errorf("error %q does not name the credential %q", err, tt.wantCred)
			}
			if n := len(clock.Sleeps()); n != 0 {
				t.Errorf("a terminal error was retried %d times", n)
			}
		})
	}
}

func withBasic(user, pass string) func(reg *registry.Registry) Target {
	return func(reg *registry.Registry) Target {
		tg := insecureTarget(reg, "team/app")
		tg.Auth = Auth{Username: user, Password: pass}
		return tg
	}
}

func TestListTagsRetries(t *testing.T) {
	tagsPath := regexp.MustCompile(`/tags/list$`)
	tests := []struct {
		name       string
		fault      registry.Fault
		wantErr    error // nil: the scan succeeds after retries
		wantSleeps []time.Duration
	}{
		{
			name:       "429 with Retry-After then success",
			fault:      registry.Fault{Path: tagsPath, Status: 429, RetryAfter: 7 * time.Second, Times: 2},
			wantSleeps: []time.Duration{7 * time.Second, 7 * time.Second},
		},
		{
			name:  "503 then success",
			fault: registry.Fault{Path: tagsPath, Status: 503, Times: 1},
		},
		{
			name:  "500 on the ping then success",
			fault: registry.Fault{Path: regexp.MustCompile(`^/v2/$`), Status: 500, Times: 2},
		},
		{
			name:    "429 every time",
			fault:   registry.Fault{Path: tagsPath, Status: 429, RetryAfter: 3 * time.Second},
			wantErr: ErrRateLimited,
		},
		{
			name:    "Retry-After longer than we wait for",
			fault:   registry.Fault{Path: tagsPath, Status: 429, RetryAfter: 10 * time.Minute},
			wantErr: ErrRateLimited,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registry.Start(t)
			reg.PushTags(t, "team/app", "1.0.0", "2.0.0")
			reg.InjectFault(tt.fault)
			s, clock := newTestScanner(t)
			got, err := s.ListTags(t.Context(), insecureTarget(reg, "team/app"))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ListTags: %v", err)
				}
				if diff := cmp.Diff([]string{"1.0.0", "2.0.0"}, got.Tags); diff != "" {
					t.Errorf("ListTags().Tags (-want +got):\n%s", diff)
				}
				if tt.wantSleeps != nil {
					if diff := cmp.Diff(tt.wantSleeps, clock.Sleeps()); diff != "" {
						t.Errorf("backoff delays (-want +got):\n%s", diff)
					}
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ListTags = %v, want %v", err, tt.wantErr)
			}
			if !IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = false, want true", err)
			}
			ra, ok := RetryAfter(err)
			if !ok || ra != tt.fault.RetryAfter {
				t.Errorf("RetryAfter(err) = %s, %t; want %s", ra, ok, tt.fault.RetryAfter)
			}
		})
	}
}

func TestListTagsRetriesAreBounded(t *testing.T) {
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	reg.InjectFault(registry.Fault{Path: regexp.MustCompile(`/tags/list$`), Status: http.StatusBadGateway})
	s, clock := newTestScanner(t, WithRetryPolicy(RetryPolicy{Attempts: 3, BaseDelay: time.Second, MaxDelay: 2 * time.Second}))
	_, err := s.ListTags(t.Context(), insecureTarget(reg, "team/app"))
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusBadGateway || !e.Retryable {
		t.Fatalf("ListTags = %v, want a retryable 502 *Error", err)
	}
	if n := countRequests(reg, http.MethodGet, "/tags/list"); n != 3 {
		t.Errorf("tags/list requests = %d, want 3 (the policy's attempts)", n)
	}
	sleeps := clock.Sleeps()
	if len(sleeps) != 2 {
		t.Fatalf("backoff sleeps = %v, want 2", sleeps)
	}
	for i, d := range sleeps {
		lo, hi := time.Second<<i/2, time.Second<<i
		if d < lo || d > hi {
			t.Errorf("sleep %d = %s, want within [%s, %s]", i, d, lo, hi)
		}
	}
}

func TestListTagsSlowRegistryTimesOutAndRetries(t *testing.T) {
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	f := reg.InjectFault(registry.Fault{Path: regexp.MustCompile(`/tags/list$`), Delay: time.Minute, Times: 1})
	s, clock := newTestScanner(t, WithRequestTimeout(200*time.Millisecond))
	got, err := s.ListTags(t.Context(), insecureTarget(reg, "team/app"))
	if err != nil {
		t.Fatalf("ListTags: %v", err)
	}
	if !slices.Equal(got.Tags, []string{"1.0.0"}) {
		t.Errorf("ListTags().Tags = %v, want [1.0.0]", got.Tags)
	}
	if f.Hits() != 1 || len(clock.Sleeps()) != 1 {
		t.Errorf("slow fault hits = %d, retries = %d; want 1 and 1", f.Hits(), len(clock.Sleeps()))
	}
}

func TestListTagsScanTimeout(t *testing.T) {
	reg := registry.Start(t)
	reg.PushTags(t, "team/app", "1.0.0")
	reg.InjectFault(registry.Fault{Path: regexp.MustCompile(`/tags/list$`), Delay: time.Minute})
	s, clock := newTestScanner(t)
	tg := insecureTarget(reg, "team/app")
	tg.Timeout = 300 * time.Millisecond
	_, err := s.ListTags(t.Context(), tg)
	if err == nil {
		t.Fatal("ListTags against a registry that never answers succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !IsRetryable(err) {
		// The next scan may succeed, but this one must stop.
		t.Errorf("ListTags = %v, want a retryable error wrapping context.DeadlineExceeded", err)
	}
	if n := len(clock.Sleeps()); n != 0 {
		t.Errorf("retried %d times after the scan's deadline", n)
	}
}

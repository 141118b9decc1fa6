package scanner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// TagList is the outcome of listing a repository's tags.
type TagList struct {
	// Repository is the canonical repository name, "host/path" (Docker
	// Hub's as "index.docker.io/library/nginx").
	Repository string
	// Tags are the repository's tags in the order the registry sent them,
	// without duplicates or excluded tags.
	Tags []string
	// Excluded is how many tags the exclusion list dropped.
	Excluded int
	// Pages is how many tag list pages were read.
	Pages int
	// Credential describes the credential used (never its value).
	Credential string
	// Duration is how long the scan took.
	Duration time.Duration
}

// maxPageBytes bounds one tag list response body (a 10,000-tag page of
// long tags is well under it).
const maxPageBytes = 64 << 20

// ListTags reads every page of the repository's tag list, following Link
// headers, and applies the exclusion list.
//
// Pagination is defensive: each page asks for WithPageSize tags (1000 by
// default); a registry that answers 400 to that is asked for 100 from then
// on. Links may be relative or absolute; an absolute link to the same host
// without the port the scan connected to gets the port back, and one
// naming another host is refused. A link seen before, a page that adds no
// new tag yet links further, more than WithMaxTags tags or more than
// WithMaxPages pages stop the scan with an error wrapping ErrPagination or
// ErrTooManyTags.
func (s *Scanner) ListTags(ctx context.Context, t Target) (*TagList, error) {
	start := s.o.clock.Now()
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	const op = "listing tags"
	exclude, err := compileExclusions(t.ExclusionList)
	if err != nil {
		return nil, &Error{Op: op, msg: err.Error(), err: err}
	}
	sess, err := s.open(ctx, t, op)
	if err != nil {
		return nil, err
	}
	out := &TagList{Repository: sess.repo.Name(), Credential: sess.errs.credential, Tags: []string{}}
	if err := s.readPages(ctx, sess, exclude, out); err != nil {
		return nil, sess.check(err)
	}
	out.Duration = s.o.clock.Now().Sub(start)
	return out, nil
}

func (s *Scanner) readPages(ctx context.Context, sess *session, exclude []*regexp.Regexp, out *TagList) error {
	const op = "listing tags"
	pageSize := s.pageSizeFor(sess.host)
	next := s.firstPageURL(sess, pageSize)
	visited := map[string]bool{}
	seen := map[string]struct{}{}
	for next != nil {
		if out.Pages >= s.o.maxPages {
			return sess.errs.plain(op, fmt.Errorf("%w: more than %d pages", ErrTooManyTags, s.o.maxPages))
		}
		visited[next.String()] = true
		resp, err := sess.get(ctx, next.String())
		if err != nil {
			return sess.errs.fromError(ctx, op, err)
		}
		if resp.StatusCode == http.StatusBadRequest && out.Pages == 0 && pageSize > FallbackPageSize {
			// Some registries reject a large n: remember and ask for less.
			drain(resp)
			s.rememberSmallPages(sess.host)
			pageSize = FallbackPageSize
			next = s.firstPageURL(sess, pageSize)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return sess.errs.fromResponse(op, resp)
		}
		tags, err := decodeTagPage(resp)
		if err != nil {
			return sess.errs.fromError(ctx, op, err)
		}
		out.Pages++
		added := 0
		for _, tag := range tags {
			if _, dup := seen[tag]; dup {
				continue
			}
			seen[tag] = struct{}{}
			added++
			if excluded(exclude, tag) {
				out.Excluded++
				continue
			}
			out.Tags = append(out.Tags, tag)
		}
		if len(seen) > s.o.maxTags {
			return sess.errs.plain(op, fmt.Errorf("%w: more than %d tags", ErrTooManyTags, s.o.maxTags))
		}
		link := nextLink(resp.Header.Values("Link"))
		if link == "" {
			break
		}
		if added == 0 {
			return sess.errs.plain(op, fmt.Errorf("%w: page %d adds no new tags but links to another", ErrPagination, out.Pages))
		}
		if next, err = resolveLink(next, link); err != nil {
			return sess.errs.plain(op, err)
		}
		if visited[next.String()] {
			return sess.errs.plain(op, fmt.Errorf("%w: page %d links back to %s", ErrPagination, out.Pages, next.RequestURI()))
		}
	}
	return nil
}

func (s *Scanner) pageSizeFor(host string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.smallPages[host] && s.o.pageSize > FallbackPageSize {
		return FallbackPageSize
	}
	return s.o.pageSize
}

func (s *Scanner) rememberSmallPages(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.smallPages[host] = true
}

func (s *Scanner) firstPageURL(sess *session, n int) *url.URL {
	return &url.URL{
		Scheme:   sess.scheme,
		Host:     sess.host,
		Path:     "/v2/" + sess.repo.RepositoryStr() + "/tags/list",
		RawQuery: "n=" + strconv.Itoa(n),
	}
}

func (sess *session) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	return sess.client.Do(req)
}

func decodeTagPage(resp *http.Response) ([]string, error) {
	defer resp.Body.Close()
	var page struct {
		Tags []string `json:"tags"`
	}
	body := io.LimitReader(resp.Body, maxPageBytes)
	if err := json.NewDecoder(body).Decode(&page); err != nil {
		return nil, fmt.Errorf("decoding tag list page: %w", err)
	}
	_, _ = io.Copy(io.Discard, body) // let the connection be reused
	return page.Tags, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// nextLink returns the target of the rel="next" link among Link header
// values (RFC 8288), or "".
func nextLink(values []string) string {
	for _, v := range values {
		for len(v) > 0 {
			start := strings.IndexByte(v, '<')
			end := strings.IndexByte(v, '>')
			if start < 0 || end < start {
				break
			}
			target := v[start+1 : end]
			rest := v[end+1:]
			params := rest
			if i := strings.IndexByte(rest, '<'); i >= 0 {
				params = rest[:i]
			}
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(p), ",")), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
			v = rest
		}
	}
	return ""
}

// resolveLink resolves a next-page link against the current page's URL.
// A link to the same host name keeps the current scheme and port (some
// registries behind proxies drop the port or write the wrong scheme); a
// link to another host is refused, since following it would send the
// scan's credentials elsewhere or scan another registry.
func resolveLink(cur *url.URL, link string) (*url.URL, error) {
	ref, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("%w: next-page link is not a URL", ErrPagination)
	}
	next := cur.ResolveReference(ref)
	if !strings.EqualFold(next.Hostname(), cur.Hostname()) {
		return nil, fmt.Errorf("%w: next-page link points to another host, %s", ErrPagination, next.Host)
	}
	if next.Port() == "" || next.Port() == cur.Port() {
		next.Host = cur.Host
		next.Scheme = cur.Scheme
	}
	if next.Port() != cur.Port() {
		return nil, fmt.Errorf("%w: next-page link points to another port, %s", ErrPagination, next.Host)
	}
	if !strings.HasPrefix(next.Path, "/v2/") {
		return nil, fmt.Errorf("%w: next-page link leaves the registry API: %s", ErrPagination, next.Path)
	}
	return next, nil
}

func compileExclusions(list []string) ([]*regexp.Regexp, error) {
	if list == nil {
		list = DefaultExclusionList
	}
	out := make([]*regexp.Regexp, 0, len(list))
	for _, expr := range list {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("%w: exclusion %q: %v", ErrInvalid, expr, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func excluded(list []*regexp.Regexp, tag string) bool {
	for _, re := range list {
		if re.MatchString(tag) {
			return true
		}
	}
	return false
}

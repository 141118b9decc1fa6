package scanner

import (
	"net/url"
	"strings"
	"testing"
)

func FuzzParseDockerConfigJSON(f *testing.F) {
	f.Add([]byte(`{"auths":{"r.example":{"auth":"YTpi"}}}`))
	f.Add([]byte(`{"auths":{"r":{"username":"u","password":"p","identitytoken":"i"}},"credHelpers":{"x":"y"}}`))
	f.Add([]byte(`{"r.example":{"auth":"YTpi","email":"e"}}`))
	f.Add([]byte(`{"auths":{"r":{"auth":"%%%"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseDockerConfigJSON(data)
		if err != nil {
			if strings.Contains(err.Error(), string(data)) && len(data) > 8 {
				t.Errorf("error %q quotes the input", err)
			}
			return
		}
		for key := range cfg.Auths {
			cfg.lookupAuth(normalizeRegistryKey(key))
		}
	})
}

func FuzzLinks(f *testing.F) {
	f.Add(`</v2/a/tags/list?last=b&n=2>; rel="next"`)
	f.Add(`<https://r.example/v2/a/tags/list?n=2&last=b>; rel=next, </x>; rel="prev"`)
	f.Add(`<//evil.example/v2/x>; rel="next"`)
	cur, _ := url.Parse("https://r.example:5000/v2/a/tags/list?n=100")
	f.Fuzz(func(t *testing.T, header string) {
		link := nextLink([]string{header})
		if link == "" {
			return
		}
		next, err := resolveLink(cur, link)
		if err != nil {
			return
		}
		if next.Host != cur.Host || next.Scheme != cur.Scheme || !strings.HasPrefix(next.Path, "/v2/") {
			t.Errorf("resolveLink(%q) = %s: leaves %s", link, next, cur.Host)
		}
	})
}

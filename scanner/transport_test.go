package scanner

import (
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// proxyStandIn is a forward proxy with basic authentication, as squid and
// friends behave: CONNECT tunnels for HTTPS, absolute-URI requests for
// plain HTTP, 407 without the right Proxy-Authorization.
type proxyStandIn struct {
	*httptest.Server
	requests atomic.Int64
}

func newProxyStandIn(t *testing.T, user, pass string) *proxyStandIn {
	p := &proxyStandIn{}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != want {
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxy"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		p.requests.Add(1)
		if r.Method == http.MethodConnect {
			upstream, err := net.Dial("tcp", r.Host)
			if err != nil {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			w.WriteHeader(http.StatusOK)
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				upstream.Close()
				return
			}
			go func() {
				_, _ = io.Copy(upstream, buf)
				upstream.Close()
			}()
			_, _ = io.Copy(conn, upstream)
			conn.Close()
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Authorization")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

func TestProxy(t *testing.T) {
	tlsReg := registry.Start(t, registry.WithTLS())
	tlsReg.PushTags(t, "team/app", "1", "2")
	plainReg := registry.Start(t)
	plainReg.PushTags(t, "team/app", "3")
	proxy := newProxyStandIn(t, "squid", "proxy-pw")
	secret := map[string][]byte{"address": []byte(proxy.URL), "username": []byte("squid"), "password": []byte("proxy-pw")}
	p, err := ProxyFromSecretData(secret)
	if err != nil {
		t.Fatalf("ProxyFromSecretData: %v", err)
	}
	s, _ := newTestScanner(t)

	tg := tlsTarget(tlsReg, "team/app")
	tg.Proxy = p
	got, err := s.ListTags(t.Context(), tg)
	if err != nil {
		t.Fatalf("ListTags through the proxy over TLS: %v", err)
	}
	if diff := cmp.Diff([]string{"1", "2"}, got.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	tunnels := proxy.requests.Load()
	if tunnels == 0 {
		t.Error("the proxy saw no CONNECT")
	}

	tg = insecureTarget(plainReg, "team/app")
	tg.Proxy = p
	if _, err := s.ListTags(t.Context(), tg); err != nil {
		t.Fatalf("ListTags through the proxy over HTTP: %v", err)
	}
	if proxy.requests.Load() <= tunnels {
		t.Error("the proxy forwarded no plain HTTP request")
	}

	tg.Proxy = &Proxy{Address: proxy.URL, Username: "squid", Password: "wrong-proxy-pw"}
	_, err = s.ListTags(t.Context(), tg)
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusProxyAuthRequired || e.Retryable {
		t.Errorf("ListTags with a wrong proxy password = %v, want a terminal 407 *Error", err)
	}
	assertNoSecrets(t, err, []string{"wrong-proxy-pw"})
}

func TestTLSErrors(t *testing.T) {
	reg := registry.Start(t, registry.WithTLS(), registry.WithClientCertAuth())
	reg.PushTags(t, "team/app", "1")
	s, _ := newTestScanner(t)
	tests := []struct {
		name   string
		target Target
		wantIs error
	}{
		{name: "unknown CA", target: Target{Image: reg.Repo("team/app")}},
		{name: "no client certificate", target: tlsTarget(reg, "team/app")},
		{name: "CA that is not PEM", target: Target{Image: reg.Repo("team/app"), TLS: TLSConfig{CA: []byte("nope")}}, wantIs: ErrInvalid},
		{name: "certificate without key", target: Target{Image: reg.Repo("team/app"), TLS: TLSConfig{Cert: reg.CACertPEM()}}, wantIs: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ListTags(t.Context(), tt.target)
			if err == nil {
				t.Fatal("ListTags succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("ListTags = %v, want %v", err, tt.wantIs)
			}
			if IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = true, want false", err)
			}
		})
	}
}

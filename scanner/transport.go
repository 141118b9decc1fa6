package scanner

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TLSConfig is the TLS material of a scan, as PEM bytes (the keys of a
// Kubernetes TLS Secret: ca.crt, tls.crt, tls.key). The zero value trusts
// the system roots and presents no client certificate.
type TLSConfig struct {
	// CA holds extra root certificates, added to the system pool.
	CA []byte
	// Cert and Key are the client certificate and its private key for
	// mutual TLS. Both or neither.
	Cert, Key []byte
}

func (c TLSConfig) empty() bool { return len(c.CA) == 0 && len(c.Cert) == 0 && len(c.Key) == 0 }

// Proxy is an HTTP(S) proxy for a scan. The zero value (or a nil *Proxy)
// means the proxy from the environment (HTTPS_PROXY, NO_PROXY), as Go's
// http.ProxyFromEnvironment reads it.
type Proxy struct {
	// Address is the proxy URL, e.g. "http://proxy.example:3128".
	Address string
	// Username and Password authenticate to the proxy, if set.
	Username, Password string
}

// DialContextFunc dials a network connection, like net.Dialer.DialContext.
type DialContextFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// transportKey identifies the http.Transport settings of a scan: scans with
// the same TLS material and proxy share connections. It is a hash, so the
// key material never sits in a map key.
func transportKey(tc TLSConfig, p *Proxy) string {
	h := sha256.New()
	for _, b := range [][]byte{tc.CA, tc.Cert, tc.Key} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	if p != nil {
		for _, s := range []string{p.Address, p.Username, p.Password} {
			fmt.Fprintf(h, "%d:%s", len(s), s)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newHTTPTransport builds the connection layer for one set of TLS and proxy
// settings.
func newHTTPTransport(tc TLSConfig, p *Proxy, dial DialContextFunc, headerTimeout time.Duration) (*http.Transport, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(tc.CA) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(tc.CA) {
			return nil, fmt.Errorf("%w: the CA bundle holds no PEM certificate", ErrInvalid)
		}
		tlsCfg.RootCAs = pool
	}
	switch {
	case len(tc.Cert) > 0 && len(tc.Key) > 0:
		pair, err := tls.X509KeyPair(tc.Cert, tc.Key)
		if err != nil {
			// The tls error never quotes the key, but keep ours short anyway.
			return nil, fmt.Errorf("%w: loading the client certificate and key: %v", ErrInvalid, errors.Unwrap(err))
		}
		tlsCfg.Certificates = []tls.Certificate{pair}
	case len(tc.Cert) > 0 || len(tc.Key) > 0:
		return nil, fmt.Errorf("%w: a client certificate needs both tls.crt and tls.key", ErrInvalid)
	}

	proxy := http.ProxyFromEnvironment
	if p != nil && p.Address != "" {
		u, err := parseProxy(*p)
		if err != nil {
			return nil, err
		}
		proxy = http.ProxyURL(u)
	}
	if dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	return &http.Transport{
		Proxy:                 proxy,
		DialContext:           dial,
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   DefaultHostConcurrency * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: headerTimeout,
	}, nil
}

func parseProxy(p Proxy) (*url.URL, error) {
	addr := p.Address
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		// url.Parse errors quote the input, which may hold a password.
		return nil, fmt.Errorf("%w: the proxy address is not a URL", ErrInvalid)
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("%w: proxy scheme %q is not http, https or socks5", ErrInvalid, u.Scheme)
	}
	if p.Username != "" {
		u.User = url.UserPassword(p.Username, p.Password)
	}
	return u, nil
}

// schemeGuard refuses plain HTTP unless the scan allows it. It sits under
// everything else, so no ping, token fetch or page can slip through.
type schemeGuard struct {
	base     http.RoundTripper
	insecure bool
}

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s", ErrInsecureRefused, req.URL.Host)
	}
	return g.base.RoundTrip(req)
}

// userAgent sets the User-Agent of every request.
type userAgent struct {
	base http.RoundTripper
	ua   string
}

func (u *userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", u.ua)
	}
	return u.base.RoundTrip(req)
}

// observed reports each request's outcome to a RequestObserver.
type observed struct {
	base    http.RoundTripper
	observe RequestObserver
}

func (o *observed) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.base.RoundTrip(req)
	code := 0
	if err == nil {
		code = resp.StatusCode
	}
	o.observe(req.URL.Host, code)
	return resp, err
}

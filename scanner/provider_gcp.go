package scanner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// GCPOptions configures the gcp provider, which gets an access token for
// the workload's service account from the GCE/GKE metadata server and uses
// it as the password of the user oauth2accesstoken.
type GCPOptions struct {
	// MetadataURL is the metadata server's base URL. Default:
	// "http://" + $GCE_METADATA_HOST when that is set (as Google's client
	// libraries read it), else "http://metadata.google.internal".
	MetadataURL string
}

const gcpTokenPath = "/computeMetadata/v1/instance/service-accounts/default/token"

// IsGCPRegistryHost reports whether host is Container Registry (gcr.io and
// its regional hosts) or Artifact Registry (REGION-docker.pkg.dev).
func IsGCPRegistryHost(host string) bool {
	h := strings.ToLower(host)
	if !isDNSName(h) {
		return false
	}
	return h == "gcr.io" || strings.HasSuffix(h, ".gcr.io") ||
		strings.HasSuffix(h, "-docker.pkg.dev")
}

// isDNSName reports whether h is a plain DNS name: letters, digits, dots
// and hyphens, no port, no path.
func isDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

type gcpProvider struct {
	s     *Scanner
	base  string
	cache credentialCache
}

func newGCPProvider(s *Scanner, o GCPOptions) *gcpProvider {
	base := o.MetadataURL
	if base == "" {
		if h := os.Getenv("GCE_METADATA_HOST"); h != "" {
			base = "http://" + h
		} else {
			base = "http://metadata.google.internal"
		}
	}
	return &gcpProvider{s: s, base: strings.TrimRight(base, "/")}
}

func (p *gcpProvider) credential(ctx context.Context, host string) (credential, error) {
	if !IsGCPRegistryHost(host) {
		return credential{}, fmt.Errorf("%w: gcp credentials are only sent to gcr.io and *-docker.pkg.dev registries, not %s", ErrProviderHost, host)
	}
	return p.cache.get(ctx, "default", p.s.o.clock.Now, p.fetch)
}

func (p *gcpProvider) fetch(ctx context.Context) (credential, time.Time, error) {
	client, err := p.s.providerClient()
	if err != nil {
		return credential{}, time.Time{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+gcpTokenPath, nil)
	if err != nil {
		return credential{}, time.Time{}, fmt.Errorf("%w: gcp metadata URL: %v", ErrInvalid, err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := client.Do(req)
	if err != nil {
		return credential{}, time.Time{}, fmt.Errorf("asking the GCP metadata server for a token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return credential{}, time.Time{}, fmt.Errorf("asking the GCP metadata server for a token: HTTP %d", resp.StatusCode)
	}
	if resp.Header.Get("Metadata-Flavor") != "Google" {
		return credential{}, time.Time{}, fmt.Errorf("the GCP metadata server's answer lacks Metadata-Flavor: Google")
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil || tok.AccessToken == "" {
		return credential{}, time.Time{}, fmt.Errorf("the GCP metadata server's answer holds no access token")
	}
	life := time.Duration(tok.ExpiresIn) * time.Second
	if life <= 0 {
		life = 5 * time.Minute
	}
	return credential{
		cfg:         authnConfig("oauth2accesstoken", tok.AccessToken),
		description: "gcp provider (metadata server token)",
		secrets:     []string{tok.AccessToken},
	}, p.s.o.clock.Now().Add(life), nil
}

func authnConfig(user, pass string) authn.AuthConfig {
	return authn.AuthConfig{Username: user, Password: pass}
}

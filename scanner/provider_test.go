package scanner

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// redirectDial serves registry host names from the fixture: every
// connection to port 80 of a name in hosts goes to the fixture's listener,
// and HTTPS (port 443) is refused, so an Insecure scan falls back to HTTP.
// Everything else dials normally.
func redirectDial(fixture string, hosts ...string) DialContextFunc {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		for _, h := range hosts {
			if strings.EqualFold(host, h) {
				if port != "80" {
					return nil, fmt.Errorf("dial %s: connection refused by the test dialer", addr)
				}
				return d.DialContext(ctx, network, fixture)
			}
		}
		return d.DialContext(ctx, network, addr)
	}
}

// ecrStandIn answers GetAuthorizationToken as the ECR API documents it
// (AWS JSON 1.1 protocol): base64 "AWS:password", expiresAt in epoch
// seconds, proxyEndpoint. It insists on a SigV4 signature for the region.
type ecrStandIn struct {
	*httptest.Server
	password string
	region   string
	calls    atomic.Int64
}

func newECRStandIn(t *testing.T, region, password string) *ecrStandIn {
	e := &ecrStandIn{password: password, region: region}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		auth := r.Header.Get("Authorization")
		if r.Method != http.MethodPost ||
			r.Header.Get("X-Amz-Target") != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"UnknownOperationException"}`)
			return
		}
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, "/"+e.region+"/ecr/aws4_request") {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"__type":"MissingAuthenticationTokenException","message":"missing or wrong signature"}`)
			return
		}
		token := base64.StdEncoding.EncodeToString([]byte("AWS:" + e.password))
		fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":%d,"proxyEndpoint":"https://123456789012.dkr.ecr.%s.amazonaws.com"}]}`,
			token, time.Now().Add(12*time.Hour).Unix(), e.region)
	}))
	t.Cleanup(e.Close)
	return e
}

func TestParseECRHost(t *testing.T) {
	tests := []struct {
		host, account, region string
		ok                    bool
	}{
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012", "us-east-1", true},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "123456789012", "cn-north-1", true},
		{"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "123456789012", "us-gov-west-1", true},
		{"123456789012.dkr-ecr.eu-west-1.on.aws", "123456789012", "eu-west-1", true},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example", "", "", false},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com:443", "", "", false},
		{"public.ecr.aws", "", "", false},
		{"12345.dkr.ecr.us-east-1.amazonaws.com", "", "", false},
	}
	for _, tt := range tests {
		account, region, ok := ParseECRHost(tt.host)
		if account != tt.account || region != tt.region || ok != tt.ok {
			t.Errorf("ParseECRHost(%s) = %q, %q, %t; want %q, %q, %t", tt.host, account, region, ok, tt.account, tt.region, tt.ok)
		}
	}
}

func TestProviderHosts(t *testing.T) {
	tests := []struct {
		host       string
		gcp, azure bool
	}{
		{host: "gcr.io", gcp: true},
		{host: "eu.gcr.io", gcp: true},
		{host: "europe-west1-docker.pkg.dev", gcp: true},
		{host: "gcr.io.evil.example"},
		{host: "evil.example/-docker.pkg.dev"},
		{host: "team.azurecr.io", azure: true},
		{host: "team.azurecr.cn", azure: true},
		{host: ".azurecr.io"},
		{host: "azurecr.io.evil.example"},
	}
	for _, tt := range tests {
		if got := IsGCPRegistryHost(tt.host); got != tt.gcp {
			t.Errorf("IsGCPRegistryHost(%s) = %t, want %t", tt.host, got, tt.gcp)
		}
		if got := IsAzureRegistryHost(tt.host); got != tt.azure {
			t.Errorf("IsAzureRegistryHost(%s) = %t, want %t", tt.host, got, tt.azure)
		}
	}
}

func TestAWSProvider(t *testing.T) {
	const (
		host     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
		password = "ecr-password-from-the-stand-in"
	)
	reg := registry.Start(t, registry.WithBasicAuth("AWS", password))
	reg.PushTags(t, "team/app", "1.0.0", "1.1.0")
	ecrAPI := newECRStandIn(t, "eu-west-1", password)
	// The default credential chain, from the environment only.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-key-example")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	s, _ := newTestScanner(t,
		WithDialContext(redirectDial(reg.Host(), host)),
		WithAWS(AWSOptions{Endpoint: ecrAPI.URL}))
	target := Target{Image: host + "/team/app", Provider: ProviderAWS, Insecure: true}
	for range 3 {
		got, err := s.ListTags(t.Context(), target)
		if err != nil {
			t.Fatalf("ListTags: %v", err)
		}
		if diff := cmp.Diff([]string{"1.0.0", "1.1.0"}, got.Tags); diff != "" {
			t.Errorf("ListTags().Tags (-want +got):\n%s", diff)
		}
		if want := "aws provider (ECR token for eu-west-1)"; got.Credential != want {
			t.Errorf("ListTags().Credential = %q, want %q", got.Credential, want)
		}
	}
	if n := ecrAPI.calls.Load(); n != 1 {
		t.Errorf("GetAuthorizationToken calls for three scans = %d, want 1 (cached until expiry)", n)
	}

	t.Run("never for other hosts", func(t *testing.T) {
		_, err := s.ListTags(t.Context(), Target{Image: reg.Repo("team/app"), Provider: ProviderAWS, Insecure: true})
		if !errors.Is(err, ErrProviderHost) {
			t.Errorf("ListTags of a non-ECR host with provider aws = %v, want ErrProviderHost", err)
		}
		if n := ecrAPI.calls.Load(); n != 1 {
			t.Errorf("GetAuthorizationToken calls = %d, want still 1", n)
		}
	})
	t.Run("signature for another region is refused", func(t *testing.T) {
		other := "123456789012.dkr.ecr.us-west-2.amazonaws.com"
		s2, _ := newTestScanner(t, WithDialContext(redirectDial(reg.Host(), other)), WithAWS(AWSOptions{Endpoint: ecrAPI.URL}))
		_, err := s2.ListTags(t.Context(), Target{Image: other + "/team/app", Provider: ProviderAWS, Insecure: true})
		var e *Error
		if !errors.As(err, &e) || e.Credential != "aws provider" {
			t.Errorf("ListTags with a refused ECR call = %v, want a *Error naming the aws provider", err)
		}
		assertNoSecrets(t, err, []string{"aws-secret-key-example"})
	})
}

// gcpMetadataStandIn answers the metadata server's token request as
// documented: only with the Metadata-Flavor: Google header, answering with
// the same header.
// It hands out tokens in turn, repeating the last.
func gcpMetadataStandIn(t *testing.T, tokens ...string) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		token := tokens[min(int(n), len(tokens))-1]
		w.Header().Set("Metadata-Flavor", "Google")
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
			return
		}
		if r.URL.Path != gcpTokenPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, token)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestGCPProvider(t *testing.T) {
	const token = "ya29.gcp-access-token-from-the-stand-in"
	reg := registry.Start(t, registry.WithBasicAuth("oauth2accesstoken", token))
	reg.PushTags(t, "project/repo/app", "v1", "v2")
	metadata, calls := gcpMetadataStandIn(t, token)
	host := "europe-west1-docker.pkg.dev"
	s, _ := newTestScanner(t, WithDialContext(redirectDial(reg.Host(), host)), WithGCP(GCPOptions{MetadataURL: metadata.URL}))
	for range 2 {
		got, err := s.ListTags(t.Context(), Target{Image: host + "/project/repo/app", Provider: ProviderGCP, Insecure: true})
		if err != nil {
			t.Fatalf("ListTags: %v", err)
		}
		if diff := cmp.Diff([]string{"v1", "v2"}, got.Tags); diff != "" {
			t.Errorf("ListTags().Tags (-want +got):\n%s", diff)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("metadata server calls = %d, want 1", calls.Load())
	}

	t.Run("refused token is fetched again", func(t *testing.T) {
		metadata, calls := gcpMetadataStandIn(t, "ya29.revoked-token", token)
		s, _ := newTestScanner(t, WithDialContext(redirectDial(reg.Host(), host)), WithGCP(GCPOptions{MetadataURL: metadata.URL}))
		target := Target{Image: host + "/project/repo/app", Provider: ProviderGCP, Insecure: true}
		if _, err := s.ListTags(t.Context(), target); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("ListTags with a revoked token = %v, want ErrUnauthorized", err)
		}
		if _, err := s.ListTags(t.Context(), target); err != nil {
			t.Fatalf("ListTags after the revoked token was dropped: %v", err)
		}
		if calls.Load() != 2 {
			t.Errorf("metadata server calls = %d, want 2", calls.Load())
		}
	})
	_, err := s.ListTags(t.Context(), Target{Image: reg.Repo("project/repo/app"), Provider: ProviderGCP, Insecure: true})
	if !errors.Is(err, ErrProviderHost) {
		t.Errorf("ListTags of a non-GCP host with provider gcp = %v, want ErrProviderHost", err)
	}
}

// azureStandIn plays Entra ID (the workload identity token endpoint and
// IMDS) and ACR's /oauth2/exchange, as their documentation describes them.
type azureStandIn struct {
	*httptest.Server
	tenant, clientID, assertion string
	aadToken, refreshToken      string
	exchanges                   atomic.Int64
}

func newAzureStandIn(t *testing.T, registryHost string) *azureStandIn {
	a := &azureStandIn{
		tenant:    "tenant-0000",
		clientID:  "client-1111",
		assertion: "federated-service-account-jwt",
		aadToken:  "entra-access-token-from-the-stand-in",
	}
	// A JWT with only an exp claim: short enough for the fixture's htpasswd
	// (bcrypt takes at most 72 bytes), long enough to carry the expiry.
	claims, _ := json.Marshal(map[string]any{"exp": time.Now().Add(3 * time.Hour).Unix()})
	a.refreshToken = "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(claims) + ".c2ln"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PathValue("tenant") != a.tenant || r.Form.Get("client_id") != a.clientID ||
			r.Form.Get("grant_type") != "client_credentials" ||
			r.Form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
			r.Form.Get("client_assertion") != a.assertion || r.Form.Get("scope") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":%q}`, a.aadToken)
	})
	mux.HandleFunc("GET /metadata/identity/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("resource") == "" ||
			r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":"3599","token_type":"Bearer"}`, a.aadToken)
	})
	mux.HandleFunc("POST /oauth2/exchange", func(w http.ResponseWriter, r *http.Request) {
		a.exchanges.Add(1)
		_ = r.ParseForm()
		if r.Form.Get("grant_type") != "access_token" || r.Form.Get("service") != registryHost ||
			r.Form.Get("access_token") != a.aadToken {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"invalid access token"}]}`)
			return
		}
		fmt.Fprintf(w, `{"refresh_token":%q}`, a.refreshToken)
	})
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	return a
}

func TestAzureProvider(t *testing.T) {
	const host = "team.azurecr.io"
	for _, mode := range []string{"workload identity", "managed identity"} {
		t.Run(mode, func(t *testing.T) {
			standIn := newAzureStandIn(t, host)
			reg := registry.Start(t, registry.WithBasicAuth(ACRTokenUser, standIn.refreshToken))
			reg.PushTags(t, "team/app", "2024.1", "2024.2")
			opts := AzureOptions{
				AuthorityHost: standIn.URL + "/",
				IMDSEndpoint:  standIn.URL + "/metadata/identity/oauth2/token",
				ExchangeURL:   standIn.URL + "/oauth2/exchange",
			}
			// Workload identity comes from the webhook's environment.
			t.Setenv("AZURE_CLIENT_ID", "")
			t.Setenv("AZURE_TENANT_ID", "")
			t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
			if mode == "workload identity" {
				file := filepath.Join(t.TempDir(), "azure-identity-token")
				if err := os.WriteFile(file, []byte(standIn.assertion+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv("AZURE_CLIENT_ID", standIn.clientID)
				t.Setenv("AZURE_TENANT_ID", standIn.tenant)
				t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
			}
			s, _ := newTestScanner(t, WithDialContext(redirectDial(reg.Host(), host)), WithAzure(opts))
			for range 2 {
				got, err := s.ListTags(t.Context(), Target{Image: host + "/team/app", Provider: ProviderAzure, Insecure: true})
				if err != nil {
					t.Fatalf("ListTags: %v", err)
				}
				if diff := cmp.Diff([]string{"2024.1", "2024.2"}, got.Tags); diff != "" {
					t.Errorf("ListTags().Tags (-want +got):\n%s", diff)
				}
				if !strings.Contains(got.Credential, mode) {
					t.Errorf("ListTags().Credential = %q, want it to name %s", got.Credential, mode)
				}
			}
			if n := standIn.exchanges.Load(); n != 1 {
				t.Errorf("exchanges = %d, want 1 (the refresh token is cached)", n)
			}
			_, err := s.ListTags(t.Context(), Target{Image: reg.Repo("team/app"), Provider: ProviderAzure, Insecure: true})
			if !errors.Is(err, ErrProviderHost) {
				t.Errorf("ListTags of a non-ACR host with provider azure = %v, want ErrProviderHost", err)
			}
		})
	}
}

func TestUnknownProvider(t *testing.T) {
	s, _ := newTestScanner(t)
	_, err := s.ListTags(t.Context(), Target{Image: "registry.example/app", Provider: "oracle"})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("ListTags with provider oracle = %v, want ErrInvalid", err)
	}
}

package scanner

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// AzureOptions configures the azure provider. It gets a Microsoft Entra ID
// access token, by workload identity federation when a federated token file,
// client ID and tenant ID are known, else from the managed identity
// endpoint (IMDS); exchanges it at the registry's /oauth2/exchange for an
// ACR refresh token; and signs in with that token as the password of the
// user 00000000-0000-0000-0000-000000000000.
//
// Empty fields are read from the environment the Azure workload identity
// webhook sets, when the Scanner is made.
type AzureOptions struct {
	// AuthorityHost is the Entra ID endpoint. Default: $AZURE_AUTHORITY_HOST,
	// else "https://login.microsoftonline.com/".
	AuthorityHost string
	// ClientID is the application (workload identity) or user-assigned
	// managed identity. Default: $AZURE_CLIENT_ID.
	ClientID string
	// TenantID is the directory. Default: $AZURE_TENANT_ID.
	TenantID string
	// FederatedTokenFile holds the Kubernetes service account token to
	// federate. Default: $AZURE_FEDERATED_TOKEN_FILE.
	FederatedTokenFile string
	// IMDSEndpoint is the managed identity token endpoint. Default:
	// "http://169.254.169.254/metadata/identity/oauth2/token".
	IMDSEndpoint string
	// Scope is the Entra ID scope asked for. Default:
	// "https://management.azure.com/.default" (resource
	// "https://management.azure.com/" for IMDS).
	Scope string
	// ExchangeURL replaces "https://REGISTRY/oauth2/exchange", for a local
	// stand-in. Default: the registry's own endpoint.
	ExchangeURL string
}

// ACRTokenUser is the user name that goes with an ACR refresh token.
const ACRTokenUser = "00000000-0000-0000-0000-000000000000"

// IsAzureRegistryHost reports whether host is an Azure Container Registry
// (*.azurecr.io and the sovereign clouds' azurecr.cn, .de, .us).
func IsAzureRegistryHost(host string) bool {
	h := strings.ToLower(host)
	if !isDNSName(h) {
		return false
	}
	for _, suffix := range []string{".azurecr.io", ".azurecr.cn", ".azurecr.de", ".azurecr.us"} {
		if strings.HasSuffix(h, suffix) && len(h) > len(suffix) {
			return true
		}
	}
	return false
}

type azureProvider struct {
	s     *Scanner
	o     AzureOptions
	cache credentialCache
}

func newAzureProvider(s *Scanner, o AzureOptions) *azureProvider {
	env := func(field *string, name, def string) {
		if *field == "" {
			*field = os.Getenv(name)
		}
		if *field == "" {
			*field = def
		}
	}
	env(&o.AuthorityHost, "AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/")
	env(&o.ClientID, "AZURE_CLIENT_ID", "")
	env(&o.TenantID, "AZURE_TENANT_ID", "")
	env(&o.FederatedTokenFile, "AZURE_FEDERATED_TOKEN_FILE", "")
	env(&o.IMDSEndpoint, "", "http://169.254.169.254/metadata/identity/oauth2/token")
	env(&o.Scope, "", "https://management.azure.com/.default")
	return &azureProvider{s: s, o: o}
}

func (p *azureProvider) credential(ctx context.Context, host string) (credential, error) {
	if !IsAzureRegistryHost(host) {
		return credential{}, fmt.Errorf("%w: azure credentials are only sent to *.azurecr.io registries, not %s", ErrProviderHost, host)
	}
	return p.cache.get(ctx, strings.ToLower(host), p.s.o.clock.Now, func(ctx context.Context) (credential, time.Time, error) {
		return p.fetch(ctx, host)
	})
}

func (p *azureProvider) fetch(ctx context.Context, host string) (credential, time.Time, error) {
	client, err := p.s.providerClient()
	if err != nil {
		return credential{}, time.Time{}, err
	}
	var aad, how string
	if p.o.FederatedTokenFile != "" && p.o.ClientID != "" && p.o.TenantID != "" {
		aad, err = p.workloadIdentityToken(ctx, client)
		how = "workload identity"
	} else {
		aad, err = p.managedIdentityToken(ctx, client)
		how = "managed identity"
	}
	if err != nil {
		return credential{}, time.Time{}, err
	}
	refresh, err := p.exchange(ctx, client, host, aad)
	if err != nil {
		return credential{}, time.Time{}, err
	}
	expires := jwtExpiry(refresh)
	if expires.IsZero() {
		expires = p.s.o.clock.Now().Add(3 * time.Hour) // ACR refresh tokens live three hours
	}
	return credential{
		cfg:         authnConfig(ACRTokenUser, refresh),
		description: fmt.Sprintf("azure provider (ACR refresh token for %s via %s)", host, how),
		secrets:     []string{refresh, aad},
	}, expires, nil
}

// workloadIdentityToken trades the federated service account token for an
// Entra ID access token (OAuth2 client credentials with a JWT assertion).
func (p *azureProvider) workloadIdentityToken(ctx context.Context, client *http.Client) (string, error) {
	assertion, err := os.ReadFile(p.o.FederatedTokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the federated token file: %w", err)
	}
	endpoint := strings.TrimRight(p.o.AuthorityHost, "/") + "/" + url.PathEscape(p.o.TenantID) + "/oauth2/v2.0/token"
	form := url.Values{
		"client_id":             {p.o.ClientID},
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {strings.TrimSpace(string(assertion))},
		"scope":                 {p.o.Scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("%w: azure authority host: %v", ErrInvalid, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return accessToken(client, req, "getting an Entra ID token by workload identity")
}

// managedIdentityToken asks the instance metadata service for a token of
// the managed identity.
func (p *azureProvider) managedIdentityToken(ctx context.Context, client *http.Client) (string, error) {
	q := url.Values{
		"api-version": {"2018-02-01"},
		"resource":    {strings.TrimSuffix(p.o.Scope, ".default")},
	}
	if p.o.ClientID != "" {
		q.Set("client_id", p.o.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.o.IMDSEndpoint+"?"+q.Encode(), nil)
	if err != nil {
		return "", fmt.Errorf("%w: azure IMDS endpoint: %v", ErrInvalid, err)
	}
	req.Header.Set("Metadata", "true")
	return accessToken(client, req, "getting an Entra ID token from the managed identity endpoint")
}

func accessToken(client *http.Client, req *http.Request, what string) (string, error) {
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("%s: HTTP %d %s", what, resp.StatusCode, body.Error)
	}
	return body.AccessToken, nil
}

// exchange trades an Entra ID access token for an ACR refresh token at the
// registry's /oauth2/exchange.
func (p *azureProvider) exchange(ctx context.Context, client *http.Client, host, aad string) (string, error) {
	endpoint := p.o.ExchangeURL
	if endpoint == "" {
		endpoint = "https://" + host + "/oauth2/exchange"
	}
	form := url.Values{
		"grant_type":   {"access_token"},
		"service":      {host},
		"access_token": {aad},
	}
	if p.o.TenantID != "" {
		form.Set("tenant", p.o.TenantID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("%w: ACR exchange URL: %v", ErrInvalid, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("exchanging the Entra ID token at %s: %w", host, err)
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if resp.StatusCode != http.StatusOK || body.RefreshToken == "" {
		return "", &Error{Op: "exchanging the Entra ID token for an ACR refresh token", Host: host,
			StatusCode: resp.StatusCode, Retryable: retryableStatus(resp.StatusCode),
			Credential: "azure provider", err: errors.New("no refresh token")}
	}
	return body.RefreshToken, nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it (the
// registry verifies; we only want to know when to ask again). It returns
// the zero time when there is none.
func jwtExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(claims.Exp, 0)
}

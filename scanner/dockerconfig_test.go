package scanner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

func TestParseDockerConfigJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *DockerConfig
		wantErr bool
	}{
		{
			name: "auths with auth field and explicit fields",
			in: `{"auths":{
				"https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
				"ghcr.io":{"username":"u","password":"p"},
				"r.example:5000":{"identitytoken":"id"},
				"t.example":{"registrytoken":"rt"}}}`,
			want: &DockerConfig{Auths: map[string]DockerAuth{
				"https://index.docker.io/v1/": {Username: "user", Password: "pa:ss"},
				"ghcr.io":                     {Username: "u", Password: "p"},
				"r.example:5000":              {IdentityToken: "id"},
				"t.example":                   {RegistryToken: "rt"},
			}},
		},
		{
			name: "helpers",
			in:   `{"auths":{"x.example":{}},"credHelpers":{"123.dkr.ecr.eu-west-1.amazonaws.com":"ecr-login"},"credsStore":"desktop"}`,
			want: &DockerConfig{
				Auths:       map[string]DockerAuth{"x.example": {}},
				CredHelpers: map[string]string{"123.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"},
				CredsStore:  "desktop",
			},
		},
		{
			name: "legacy dockercfg",
			in:   `{"r.example":{"auth":"YTpi","email":"a@example.com"}}`,
			want: &DockerConfig{Auths: map[string]DockerAuth{"r.example": {Username: "a", Password: "b"}}},
		},
		{name: "not JSON", in: `{"auths":`, wantErr: true},
		{name: "auth not base64", in: `{"auths":{"r":{"auth":"%%%"}}}`, wantErr: true},
		{name: "auth without colon", in: `{"auths":{"r":{"auth":"YWJj"}}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDockerConfigJSON([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("ParseDockerConfigJSON(%s) = %v, want ErrInvalid", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDockerConfigJSON: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseDockerConfigJSON (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDockerConfigLookup(t *testing.T) {
	cfg := &DockerConfig{Auths: map[string]DockerAuth{
		"https://index.docker.io/v1/": {Username: "hub"},
		"https://r.example:5000/v2/":  {Username: "port"},
		"R.example":                   {Username: "noport"},
		"empty.example":               {},
	}}
	tests := []struct {
		host     string
		wantUser string
		wantOK   bool
	}{
		{host: "index.docker.io", wantUser: "hub", wantOK: true},
		{host: "r.example:5000", wantUser: "port", wantOK: true},
		{host: "r.example", wantUser: "noport", wantOK: true},
		{host: "r.example:6000", wantOK: false},
		{host: "empty.example", wantOK: false},
		{host: "ghcr.io", wantOK: false},
	}
	for _, tt := range tests {
		_, a, ok := cfg.lookupAuth(tt.host)
		if ok != tt.wantOK || a.Username != tt.wantUser {
			t.Errorf("lookupAuth(%s) = %q, %t; want %q, %t", tt.host, a.Username, ok, tt.wantUser, tt.wantOK)
		}
	}
}

func TestAuthFromSecretData(t *testing.T) {
	got, err := AuthFromSecretData(map[string][]byte{SecretKeyDockerConfigJSON: []byte(`{"auths":{"r":{"auth":"YTpi"}}}`)})
	if err != nil || len(got.DockerConfigs) != 1 || got.DockerConfigs[0].Auths["r"].Password != "b" {
		t.Errorf("AuthFromSecretData(.dockerconfigjson) = %+v, %v", got, err)
	}
	got, err = AuthFromSecretData(map[string][]byte{"username": []byte("u"), "password": []byte("p")})
	if err != nil || got.Username != "u" || got.Password != "p" {
		t.Errorf("AuthFromSecretData(username/password) = %+v, %v", got, err)
	}
	if _, err := AuthFromSecretData(map[string][]byte{"other": nil}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AuthFromSecretData(no known key) = %v, want ErrInvalid", err)
	}
	if _, err := TLSFromSecretData(map[string][]byte{SecretKeyCert: []byte("x")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("TLSFromSecretData(cert without key) = %v, want ErrInvalid", err)
	}
	p, err := ProxyFromSecretData(map[string][]byte{"address": []byte("proxy.example:3128"), "username": []byte("u"), "password": []byte("p")})
	if err != nil || p.Address != "proxy.example:3128" || p.Username != "u" {
		t.Errorf("ProxyFromSecretData = %+v, %v", p, err)
	}
}

// A credential helper is a program on PATH; this one is a shell script that
// answers like docker-credential-* helpers do.
func TestCredentialHelper(t *testing.T) {
	reg := registry.Start(t, registry.WithBasicAuth("helped", "helper-pw"))
	reg.PushTags(t, "team/app", "1")
	dir := t.TempDir()
	script := "#!/bin/sh\nread url\nif [ \"$url\" = \"" + reg.Host() + "\" ]; then\n" +
		"  echo '{\"ServerURL\":\"'$url'\",\"Username\":\"helped\",\"Secret\":\"helper-pw\"}'\n" +
		"else\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-dockhand-test"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cfg := &DockerConfig{CredHelpers: map[string]string{reg.Host(): "dockhand-test"}}
	tg := insecureTarget(reg, "team/app")
	tg.Auth.DockerConfigs = []*DockerConfig{cfg}

	off, _ := newTestScanner(t)
	if _, err := off.ListTags(t.Context(), tg); !errors.Is(err, ErrInvalid) {
		t.Errorf("ListTags with helpers off = %v, want ErrInvalid", err)
	}
	on, _ := newTestScanner(t, WithCredentialHelpers(true))
	got, err := on.ListTags(t.Context(), tg)
	if err != nil {
		t.Fatalf("ListTags with a credential helper: %v", err)
	}
	if want := "docker credential helper dockhand-test for " + reg.Host(); got.Credential != want {
		t.Errorf("Credential = %q, want %q", got.Credential, want)
	}
	// credsStore for a host the helper does not know: anonymous, and the
	// registry says 401.
	tg.Auth.DockerConfigs = []*DockerConfig{{CredsStore: "dockhand-test"}}
	tg.Image = strings.Replace(tg.Image, "127.0.0.1", "localhost", 1)
	if _, err := on.ListTags(t.Context(), tg); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("ListTags with a helper that has no credentials = %v, want ErrUnauthorized", err)
	}
}

package scanner

import (
	"encoding/base64"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

// Every failing scan below carries secrets with recognisable values; no
// error message, nor any message in its chain, may contain one.
func TestErrorsNeverContainSecrets(t *testing.T) {
	const (
		basicPW    = "basic-secret-Zq81x"
		tokenPW    = "token-secret-Wk27y"
		configPW   = "config-secret-Hd55v"
		identity   = "identity-secret-Jr90u"
		regToken   = "registry-token-secret-Pp31c"
		proxyPW    = "proxy-secret-Mm64t"
		helperName = "no-such-helper-for-tests"
	)
	basicReg := registry.Start(t, registry.WithBasicAuth("alice", "the-right-one"))
	basicReg.PushTags(t, "team/app", "1")
	tokenReg := registry.Start(t, registry.WithTokenAuth("carol", "the-right-one"))
	tokenReg.PushTags(t, "team/app", "1")
	faultReg := registry.Start(t, registry.WithBasicAuth("alice", basicPW))
	faultReg.PushTags(t, "team/app", "1")
	faultReg.InjectFault(registry.Fault{Path: regexp.MustCompile(`^/v2/.+`), Status: 503})

	// A port nothing listens on, for the proxy.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadProxy := "http://" + l.Addr().String()
	l.Close()

	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	secrets := []string{basicPW, tokenPW, configPW, identity, regToken, proxyPW,
		b64("alice:" + basicPW), b64("bob:" + configPW)}

	tests := []struct {
		name   string
		target Target
	}{
		{name: "wrong basic password", target: Target{Image: basicReg.Repo("team/app"), Insecure: true,
			Auth: Auth{Username: "alice", Password: basicPW}}},
		{name: "wrong password at the token server", target: Target{Image: tokenReg.Repo("team/app"), Insecure: true,
			Auth: Auth{Username: "carol", Password: tokenPW}}},
		{name: "docker config entry with a wrong password", target: Target{Image: basicReg.Repo("team/app"), Insecure: true,
			Auth: Auth{DockerConfigs: []*DockerConfig{mustDockerConfig(t,
				`{"auths":{"`+basicReg.Host()+`":{"auth":"`+b64("bob:"+configPW)+`"}}}`)}}}},
		{name: "identity token refused by the token server", target: Target{Image: tokenReg.Repo("team/app"), Insecure: true,
			Auth: Auth{DockerConfigs: []*DockerConfig{{Auths: map[string]DockerAuth{tokenReg.Host(): {IdentityToken: identity}}}}}}},
		{name: "registry token refused", target: Target{Image: tokenReg.Repo("team/app"), Insecure: true,
			Auth: Auth{DockerConfigs: []*DockerConfig{{Auths: map[string]DockerAuth{tokenReg.Host(): {RegistryToken: regToken}}}}}}},
		{name: "registry keeps failing", target: Target{Image: faultReg.Repo("team/app"), Insecure: true,
			Auth: Auth{Username: "alice", Password: basicPW}}},
		{name: "proxy down", target: Target{Image: basicReg.Repo("team/app"), Insecure: true,
			Auth:  Auth{Username: "alice", Password: basicPW},
			Proxy: &Proxy{Address: deadProxy, Username: "p", Password: proxyPW}}},
		{name: "proxy address unparsable", target: Target{Image: basicReg.Repo("team/app"), Insecure: true,
			Proxy: &Proxy{Address: "http://p:" + proxyPW + "@[::1", Username: "p", Password: proxyPW}}},
		{name: "credential helper disabled", target: Target{Image: basicReg.Repo("team/app"), Insecure: true,
			Auth: Auth{DockerConfigs: []*DockerConfig{{CredHelpers: map[string]string{basicReg.Host(): helperName}}}}}},
	}
	s, _ := newTestScanner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ListTags(t.Context(), tt.target)
			if err == nil {
				t.Fatal("ListTags succeeded, want an error")
			}
			t.Logf("ListTags: %v", err)
			assertNoSecrets(t, err, secrets)
			_, err = s.Digest(t.Context(), tt.target, "1", "")
			if err == nil {
				t.Fatal("Digest succeeded, want an error")
			}
			assertNoSecrets(t, err, secrets)
		})
	}

	t.Run("docker config that is not JSON", func(t *testing.T) {
		_, err := ParseDockerConfigJSON([]byte(`{"auths":{"r":{"password":"` + configPW + `"}`))
		if err == nil {
			t.Fatal("ParseDockerConfigJSON of truncated JSON succeeded")
		}
		assertNoSecrets(t, err, secrets)
	})
	t.Run("docker config auth that is not base64", func(t *testing.T) {
		_, err := ParseDockerConfigJSON([]byte(`{"auths":{"r":{"auth":"` + configPW + `!"}}}`))
		if err == nil {
			t.Fatal("ParseDockerConfigJSON of a bad auth field succeeded")
		}
		assertNoSecrets(t, err, secrets)
	})
	t.Run("proxy secret data without an address", func(t *testing.T) {
		_, err := ProxyFromSecretData(map[string][]byte{"password": []byte(proxyPW)})
		if err == nil {
			t.Fatal("ProxyFromSecretData without an address succeeded")
		}
		assertNoSecrets(t, err, secrets)
	})
}

func assertNoSecrets(t *testing.T, err error, secrets []string) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		for _, s := range secrets {
			if strings.Contains(msg, s) {
				t.Errorf("error %q (%T) contains the secret %q", msg, e, s)
			}
		}
	}
}

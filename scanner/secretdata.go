package scanner

import (
	"fmt"
	"strings"
)

// Keys of Kubernetes Secrets, as Flux names them.
const (
	SecretKeyDockerConfigJSON = ".dockerconfigjson" // kubernetes.io/dockerconfigjson
	SecretKeyDockerCfg        = ".dockercfg"        // kubernetes.io/dockercfg (legacy)
	SecretKeyUsername         = "username"
	SecretKeyPassword         = "password"
	SecretKeyCA               = "ca.crt"
	SecretKeyCert             = "tls.crt"
	SecretKeyKey              = "tls.key"
	SecretKeyProxyAddress     = "address"
)

// AuthFromSecretData reads credentials from a Secret's data: a docker
// config (.dockerconfigjson, or the legacy .dockercfg), or basic
// credentials (username and password). The docker config wins when both
// are present. A Secret with neither is an error wrapping ErrInvalid.
func AuthFromSecretData(data map[string][]byte) (Auth, error) {
	for _, key := range []string{SecretKeyDockerConfigJSON, SecretKeyDockerCfg} {
		if raw, ok := data[key]; ok {
			cfg, err := ParseDockerConfigJSON(raw)
			if err != nil {
				return Auth{}, fmt.Errorf("reading %s: %w", key, err)
			}
			return Auth{DockerConfigs: []*DockerConfig{cfg}}, nil
		}
	}
	user, pass := string(data[SecretKeyUsername]), string(data[SecretKeyPassword])
	if user != "" || pass != "" {
		return Auth{Username: user, Password: pass}, nil
	}
	return Auth{}, fmt.Errorf("%w: the secret has neither %s nor %s and %s",
		ErrInvalid, SecretKeyDockerConfigJSON, SecretKeyUsername, SecretKeyPassword)
}

// MergeAuth appends the docker configs of more to a, for an
// ImageRepository's secretRef followed by its service account's
// imagePullSecrets. Basic credentials of a are kept; those of more are
// ignored when a has some.
func MergeAuth(a Auth, more ...Auth) Auth {
	for _, m := range more {
		if a.Username == "" && a.Password == "" {
			a.Username, a.Password = m.Username, m.Password
		}
		a.DockerConfigs = append(a.DockerConfigs, m.DockerConfigs...)
	}
	return a
}

// TLSFromSecretData reads TLS material from a Secret's data: ca.crt,
// tls.crt and tls.key (Flux's deprecated caFile, certFile and keyFile are
// read too). A client certificate without its key, or the reverse, is an
// error wrapping ErrInvalid.
func TLSFromSecretData(data map[string][]byte) (TLSConfig, error) {
	pick := func(keys ...string) []byte {
		for _, k := range keys {
			if v, ok := data[k]; ok && len(v) > 0 {
				return v
			}
		}
		return nil
	}
	c := TLSConfig{
		CA:   pick(SecretKeyCA, "caFile"),
		Cert: pick(SecretKeyCert, "certFile"),
		Key:  pick(SecretKeyKey, "keyFile"),
	}
	if (len(c.Cert) > 0) != (len(c.Key) > 0) {
		return TLSConfig{}, fmt.Errorf("%w: a client certificate needs both %s and %s", ErrInvalid, SecretKeyCert, SecretKeyKey)
	}
	if c.empty() {
		return TLSConfig{}, fmt.Errorf("%w: the secret has none of %s, %s, %s", ErrInvalid, SecretKeyCA, SecretKeyCert, SecretKeyKey)
	}
	return c, nil
}

// ProxyFromSecretData reads a proxy from a Secret's data: address
// (required), username and password.
func ProxyFromSecretData(data map[string][]byte) (*Proxy, error) {
	p := &Proxy{
		Address:  strings.TrimSpace(string(data[SecretKeyProxyAddress])),
		Username: string(data[SecretKeyUsername]),
		Password: string(data[SecretKeyPassword]),
	}
	if p.Address == "" {
		return nil, fmt.Errorf("%w: the proxy secret has no %s", ErrInvalid, SecretKeyProxyAddress)
	}
	if _, err := parseProxy(*p); err != nil {
		return nil, err
	}
	return p, nil
}

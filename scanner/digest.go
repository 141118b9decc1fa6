package scanner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// manifestAccept lists every manifest type the scanner understands, indexes
// first, so a multi-arch tag resolves to its index.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// maxManifestBytes bounds a manifest body (the distribution spec suggests
// registries accept at least 4 MiB).
const maxManifestBytes = 4 << 20

// Digest returns the digest ("sha256:...") of tag in t's repository.
//
// With an empty platform it is the digest of what the tag points to: the
// index for a multi-arch image. It asks with HEAD (the digest is in the
// Docker-Content-Digest header; Docker Hub does not count HEADs against
// pull limits) and falls back to GET when HEAD is refused or the header is
// missing, hashing the body if need be.
//
// With a platform ("os/arch" or "os/arch/variant", e.g. "linux/arm64/v8")
// it is the digest of that platform's manifest in the index; a tag that is
// a single manifest is returned as it is.
func (s *Scanner) Digest(ctx context.Context, t Target, tag, platform string) (string, error) {
	const op = "resolving digest"
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	var want *v1.Platform
	if platform != "" {
		p, err := v1.ParsePlatform(platform)
		if err != nil || p.OS == "" || p.Architecture == "" {
			err = fmt.Errorf("%w: platform %q: want os/arch[/variant]", ErrInvalid, platform)
			return "", &Error{Op: op, msg: err.Error(), err: err}
		}
		want = p
	}
	sess, err := s.open(ctx, t, op)
	if err != nil {
		return "", err
	}
	d, err := sess.digest(ctx, op, tag, want)
	return d, sess.check(err)
}

func (sess *session) digest(ctx context.Context, op, tag string, want *v1.Platform) (string, error) {
	u := (&url.URL{
		Scheme: sess.scheme,
		Host:   sess.host,
		Path:   "/v2/" + sess.repo.RepositoryStr() + "/manifests/" + tag,
	}).String()

	if want == nil {
		resp, err := sess.manifest(ctx, http.MethodHead, u)
		if err != nil {
			return "", sess.errs.fromError(ctx, op, err)
		}
		drain(resp)
		if d := resp.Header.Get("Docker-Content-Digest"); resp.StatusCode == http.StatusOK && validDigest(d) {
			return d, nil
		}
	}
	resp, err := sess.manifest(ctx, http.MethodGet, u)
	if err != nil {
		return "", sess.errs.fromError(ctx, op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", sess.errs.fromResponse(op, resp)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes+1))
	if err != nil {
		return "", sess.errs.fromError(ctx, op, err)
	}
	if len(body) > maxManifestBytes {
		return "", sess.errs.plain(op, fmt.Errorf("manifest larger than %d bytes", maxManifestBytes))
	}
	digest := resp.Header.Get("Docker-Content-Digest")
	if !validDigest(digest) {
		sum := sha256.Sum256(body)
		digest = "sha256:" + hex.EncodeToString(sum[:])
	}
	if want == nil {
		return digest, nil
	}
	return platformDigest(sess, op, resp.Header.Get("Content-Type"), body, digest, *want)
}

// platformDigest picks want's manifest from an index body.
func platformDigest(sess *session, op, contentType string, body []byte, digest string, want v1.Platform) (string, error) {
	var probe struct {
		MediaType string          `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return "", sess.errs.plain(op, fmt.Errorf("decoding manifest: %w", err))
	}
	mt := probe.MediaType
	if mt == "" {
		mt = contentType
	}
	isIndex := strings.Contains(mt, "index") || strings.Contains(mt, "manifest.list") || probe.Manifests != nil
	if !isIndex {
		return digest, nil
	}
	idx, err := v1.ParseIndexManifest(strings.NewReader(string(body)))
	if err != nil {
		return "", sess.errs.plain(op, fmt.Errorf("decoding image index: %w", err))
	}
	for _, m := range idx.Manifests {
		if m.Platform == nil {
			continue
		}
		p := *m.Platform
		if p.OS == want.OS && p.Architecture == want.Architecture &&
			(want.Variant == "" || p.Variant == want.Variant) {
			return m.Digest.String(), nil
		}
	}
	return "", sess.errs.plain(op, fmt.Errorf("%w: the index has no manifest for platform %s", ErrNotFound, want.String()))
}

func (sess *session) manifest(ctx context.Context, method, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	return sess.client.Do(req)
}

func validDigest(d string) bool {
	algo, hexPart, ok := strings.Cut(d, ":")
	if !ok || algo != "sha256" || len(hexPart) != 64 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}

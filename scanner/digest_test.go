package scanner

import (
	"errors"
	"net/http"
	"regexp"
	"testing"

	"github.com/dockhand-dev/dockhand/fixtures/registry"
)

func TestDigest(t *testing.T) {
	reg := registry.Start(t, registry.WithTLS(), registry.WithTokenAuth("ci", "ci-pw"))
	single := reg.PushImage(t, "team/app", "1.0.0")
	index, images := reg.PushIndex(t, "team/app", "2.0.0", "linux/amd64", "linux/arm64/v8", "linux/arm/v7")
	target := tlsTarget(reg, "team/app")
	target.Auth = Auth{Username: "ci", Password: "ci-pw"}

	tests := []struct {
		name     string
		tag      string
		platform string
		want     string
	}{
		{name: "single image", tag: "1.0.0", want: single.String()},
		{name: "index digest for a multi-arch tag", tag: "2.0.0", want: index.String()},
		{name: "one platform of an index", tag: "2.0.0", platform: "linux/arm64", want: images[1].String()},
		{name: "platform with variant", tag: "2.0.0", platform: "linux/arm/v7", want: images[2].String()},
		{name: "platform of a single image is the image", tag: "1.0.0", platform: "linux/amd64", want: single.String()},
	}
	s, _ := newTestScanner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Digest(t.Context(), target, tt.tag, tt.platform)
			if err != nil {
				t.Fatalf("Digest(%s, %q): %v", tt.tag, tt.platform, err)
			}
			if got != tt.want {
				t.Errorf("Digest(%s, %q) = %s, want %s", tt.tag, tt.platform, got, tt.want)
			}
		})
	}

	t.Run("missing platform", func(t *testing.T) {
		_, err := s.Digest(t.Context(), target, "2.0.0", "windows/amd64")
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Digest(2.0.0, windows/amd64) = %v, want ErrNotFound", err)
		}
	})
	t.Run("missing tag", func(t *testing.T) {
		_, err := s.Digest(t.Context(), target, "9.9.9", "")
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Digest(9.9.9) = %v, want ErrNotFound", err)
		}
	})
	t.Run("bad platform", func(t *testing.T) {
		_, err := s.Digest(t.Context(), target, "2.0.0", "linux")
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Digest(2.0.0, linux) = %v, want ErrInvalid", err)
		}
	})
}

func TestDigestFallsBackToGetWhenHeadIsRefused(t *testing.T) {
	reg := registry.Start(t)
	want := reg.PushImage(t, "team/app", "1.0.0")
	// 405 is what registries that do not implement HEAD answer.
	head := reg.InjectFault(registry.Fault{Method: http.MethodHead, Path: regexp.MustCompile(`/manifests/`), Status: http.StatusMethodNotAllowed})
	s, _ := newTestScanner(t)
	got, err := s.Digest(t.Context(), insecureTarget(reg, "team/app"), "1.0.0", "")
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	if got != want.String() {
		t.Errorf("Digest = %s, want %s", got, want)
	}
	if head.Hits() != 1 || countRequests(reg, http.MethodGet, "/manifests/1.0.0") != 1 {
		t.Errorf("HEAD hits = %d, GETs = %d; want 1 and 1", head.Hits(), countRequests(reg, http.MethodGet, "/manifests/1.0.0"))
	}
}

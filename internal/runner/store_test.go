package runner

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dockhand-dev/dockhand/internal/engine"
	"github.com/dockhand-dev/dockhand/internal/manifest"
)

func TestStoreServiceAccountsAndNamespaces(t *testing.T) {
	s := newStore(&manifest.Objects{
		ServiceAccounts: []*corev1.ServiceAccount{{
			ObjectMeta:       metav1.ObjectMeta{Name: "scanner", Namespace: "apps"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "mirror"}},
		}},
		Namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "apps", Labels: map[string]string{"team": "web"}}}},
	})
	ctx := t.Context()
	names, err := s.GetServiceAccountPullSecrets(ctx, "apps", "scanner")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"regcred", "mirror"}, names); diff != "" {
		t.Errorf("GetServiceAccountPullSecrets (-want +got):\n%s", diff)
	}
	if _, err := s.GetServiceAccountPullSecrets(ctx, "other", "scanner"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("GetServiceAccountPullSecrets(other/scanner) error = %v, want ErrNotFound", err)
	}
	labels, err := s.GetNamespaceLabels(ctx, "apps")
	if err != nil || labels["team"] != "web" {
		t.Errorf("GetNamespaceLabels(apps) = %v, %v; want team=web", labels, err)
	}
	if _, err := s.GetNamespaceLabels(ctx, "nowhere"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("GetNamespaceLabels(nowhere) error = %v, want ErrNotFound", err)
	}
}

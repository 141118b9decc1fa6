package v1

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestCRDMatchesConstants checks that the limits and defaults written as
// kubebuilder markers (which must be literals) agree with the Go constants
// that code uses for the same things.
func TestCRDMatchesConstants(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct {
		file     string
		path     string
		maxItems int64
		maxLen   int64
		dflt     string
	}{
		{file: "imagerepositories", path: "spec.exclusionList", maxItems: MaxExclusionListItems, dflt: `["` + strings.ReplaceAll(DefaultExclusionPattern, `\`, `\\`) + `"]`},
		{file: "imagerepositories", path: "spec.provider", dflt: `"` + ProviderGeneric + `"`},
		{file: "imagerepositories", path: "status.lastScanResult.latestTags", maxItems: MaxLatestTags},
		{file: "imagepolicies", path: "spec.digestReflectionPolicy", dflt: `"` + string(ReflectNever) + `"`},
		{file: "imagepolicies", path: "spec.policy.alphabetical.order", dflt: `"` + OrderAsc + `"`},
		{file: "imagepolicies", path: "spec.policy.numerical.order", dflt: `"` + OrderAsc + `"`},
		{file: "imageupdateautomations", path: "spec.update.strategy", dflt: `"` + string(UpdateStrategySetters) + `"`},
		{file: "imageupdateautomations", path: "spec.git.commit.signingKey.type", dflt: `"` + string(SigningKeyGPG) + `"`},
		{file: "imageupdateautomations", path: "spec.git.remote.provider", dflt: `"` + GitProviderGeneric + `"`},
		{file: "imageupdateautomations", path: "status.history", maxItems: MaxHistory},
		{file: "imageupdateautomations", path: "status.history[].message", maxLen: MaxRunMessageLength},
	} {
		t.Run(tc.file+"/"+tc.path, func(t *testing.T) {
			s := schemaAt(t, filepath.Join(root, "config", "crd", "bases", "image.dockhand.dev_"+tc.file+".yaml"), tc.path)
			if tc.maxItems != 0 && (s.MaxItems == nil || *s.MaxItems != tc.maxItems) {
				t.Errorf("maxItems = %v, want %d", deref(s.MaxItems), tc.maxItems)
			}
			if tc.maxLen != 0 && (s.MaxLength == nil || *s.MaxLength != tc.maxLen) {
				t.Errorf("maxLength = %v, want %d", deref(s.MaxLength), tc.maxLen)
			}
			if tc.dflt != "" {
				if s.Default == nil {
					t.Fatalf("no default, want %s", tc.dflt)
				}
				var got, want any
				if err := json.Unmarshal(s.Default.Raw, &got); err != nil {
					t.Fatalf("decoding default: %v", err)
				}
				if err := json.Unmarshal([]byte(tc.dflt), &want); err != nil {
					t.Fatalf("decoding wanted default: %v", err)
				}
				if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
					t.Errorf("default = %s, want %s", g, w)
				}
			}
		})
	}
}

// schemaAt returns the schema of a dotted path ("a.b[].c") in the only
// version of the CRD in file.
func schemaAt(t *testing.T, file, path string) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading CRD: %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
	if len(crd.Spec.Versions) != 1 {
		t.Fatalf("%s has %d versions, want 1", file, len(crd.Spec.Versions))
	}
	s := *crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	for _, part := range strings.Split(path, ".") {
		name, isList := strings.CutSuffix(part, "[]")
		next, ok := s.Properties[name]
		if !ok {
			t.Fatalf("%s: no property %q on the way to %s", file, name, path)
		}
		s = next
		if isList {
			if s.Items == nil || s.Items.Schema == nil {
				t.Fatalf("%s: %s is not a list", file, name)
			}
			s = *s.Items.Schema
		}
	}
	return s
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

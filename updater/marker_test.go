package updater

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMarker(t *testing.T) {
	for _, tc := range []struct {
		comment string
		want    Marker
		wantErr bool
	}{
		{comment: `# {"$imagepolicy": "apps:web"}`, want: Marker{Namespace: "apps", Name: "web"}},
		{comment: `{"$imagepolicy":"apps:web:tag"}`, want: Marker{Namespace: "apps", Name: "web", Field: FieldTag}},
		{comment: `#   {"$imagepolicy": "apps:web:name"}  `, want: Marker{Namespace: "apps", Name: "web", Field: FieldName}},
		{comment: `# {"$imagepolicy": "apps:web:digest", "other": 1}`, want: Marker{Namespace: "apps", Name: "web", Field: FieldDigest}},
		{comment: `# {"$imagepolicy": "web"}`, want: Marker{Name: "web"}},
		{comment: `# {"$imagepolicy": ":web:tag"}`, want: Marker{Name: "web", Field: FieldTag}},
		{comment: `# {"$imagepolicy": "web:tag"}`, want: Marker{Namespace: "web", Name: "tag"}},
		{comment: `# {"$imagepolicy": "apps:web:version"}`, wantErr: true},
		{comment: `# {"$imagepolicy": "a:b:c:d"}`, wantErr: true},
		{comment: `# {"$imagepolicy": ""}`, wantErr: true},
		{comment: `# {"$imagepolicy": "apps:"}`, wantErr: true},
		{comment: `# {"$imagepolicy": "Apps:Web"}`, wantErr: true},
		{comment: `# {"$imagepolicy": 1}`, wantErr: true},
		{comment: `# {"$imagepolicy": apps:web}`, wantErr: true},
		{comment: `# {"$imagepolicy": "apps:web"} trailing`, wantErr: true},
		{comment: `# see $imagepolicy docs`, wantErr: true},
		{comment: `# {"$imagepolicyx": "apps:web"}`, wantErr: true},
	} {
		got, err := ParseMarker(tc.comment)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseMarker(%q) error = %v, want error %v", tc.comment, err, tc.wantErr)
			continue
		}
		if errors.Is(err, ErrNoMarker) {
			t.Errorf("ParseMarker(%q) = ErrNoMarker for a comment with the marker key", tc.comment)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseMarker(%q) (-want +got):\n%s", tc.comment, diff)
		}
	}
	if _, err := ParseMarker("# just a comment"); !errors.Is(err, ErrNoMarker) {
		t.Errorf("ParseMarker of a plain comment = %v, want ErrNoMarker", err)
	}
}

func TestMarkerSetter(t *testing.T) {
	m := Marker{Name: "web", Field: FieldTag}
	if got := m.Setter("apps"); got != "apps:web:tag" {
		t.Errorf("Setter = %q, want apps:web:tag", got)
	}
	if got := m.Policy("apps"); got != "apps/web" {
		t.Errorf("Policy = %q, want apps/web", got)
	}
	m = Marker{Namespace: "ns", Name: "web"}
	if got := m.Setter("apps"); got != "ns:web" {
		t.Errorf("Setter = %q, want ns:web", got)
	}
}

func FuzzParseMarker(f *testing.F) {
	for _, s := range []string{`# {"$imagepolicy": "apps:web"}`, `{"$imagepolicy": ":web:tag"}`,
		`# {"$imagepolicy": "a:b:c:d"}`, `#{"$imagepolicy":"x"} y`, `# $imagepolicy`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, comment string) {
		m, err := ParseMarker(comment)
		if err != nil {
			if m != (Marker{}) {
				t.Errorf("ParseMarker(%q) = %+v with error %v", comment, m, err)
			}
			return
		}
		if !strings.Contains(comment, MarkerKey) || !validName(m.Name) || (m.Namespace != "" && !validName(m.Namespace)) {
			t.Errorf("ParseMarker(%q) = %+v, an invalid marker", comment, m)
		}
		// The setter name parses back to the same marker.
		back, err := parseMarkerRef(m.Setter("ns"))
		if err != nil || back.Name != m.Name || back.Field != m.Field {
			t.Errorf("setter %q of %+v parses to %+v, %v", m.Setter("ns"), m, back, err)
		}
	})
}

func TestNeedsQuotes(t *testing.T) {
	for s, want := range map[string]bool{
		"1.2.3": false, "v1.10": false, "ghcr.io/org/app:1.0@sha256:ab": false, "latest": false, "main-abc123": false,
		"1.10": true, "10": true, "1e3": true, "true": true, "yes": true, "Off": true, "~": true, "null": true,
		"0755": true, "0x1F": true, "1:20": true, "2024-01-02": true, ".inf": true, "": true,
		"a: b": true, "a #b": true, "-x": true, "*x": true, "x:": true, " x": true,
	} {
		if got := needsQuotes(s, false); got != want {
			t.Errorf("needsQuotes(%q) = %v, want %v", s, got, want)
		}
	}
	if !needsQuotes("a,b", true) || needsQuotes("a,b", false) {
		t.Error("needsQuotes of a flow indicator depends on the context")
	}
}

// FuzzSimpleMarker checks that the fast path agrees with JSON decoding.
func FuzzSimpleMarker(f *testing.F) {
	for _, s := range []string{`{"$imagepolicy": "apps:web"}`, `{ "$imagepolicy" :"a:b:tag" }`, `{"$imagepolicy": "a\"b"}`, `{"$imagepolicy": "x"} y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		fast, ok := simpleMarker(text)
		if !ok {
			return
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(text), &obj); err != nil {
			t.Fatalf("simpleMarker(%q) = %q, but it is not JSON: %v", text, fast, err)
		}
		if got, _ := obj[MarkerKey].(string); got != fast || len(obj) != 1 {
			t.Fatalf("simpleMarker(%q) = %q, JSON reads %v", text, fast, obj)
		}
	})
}

package manifest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadValid(t *testing.T) {
	objs, problems, err := Load(t.Context(), []string{"testdata/valid"}, Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(problems) > 0 {
		t.Fatalf("Load problems = %v, want none", problems)
	}
	if got := len(objs.Repositories); got != 1 {
		t.Fatalf("len(Repositories) = %d, want 1", got)
	}
	repo := objs.Repositories[0]
	if repo.APIVersion != "image.dockhand.dev/v1" || repo.Namespace != "apps" || repo.Spec.SecretRef.Name != "regcred" {
		t.Errorf("Repositories[0] = %s %s/%s secretRef %v, want image.dockhand.dev/v1 apps/web regcred",
			repo.APIVersion, repo.Namespace, repo.Name, repo.Spec.SecretRef)
	}
	// Defaults from the CRD are applied.
	if diff := cmp.Diff([]string{`^.*\.sig$`}, repo.Spec.ExclusionList); diff != "" {
		t.Errorf("exclusionList default (-want +got):\n%s", diff)
	}
	if got := len(objs.Policies); got != 2 {
		t.Fatalf("len(Policies) = %d, want 2", got)
	}
	worker := objs.Policies[1]
	if worker.Namespace != "default" || worker.Spec.Policy.Numerical == nil || worker.Spec.Policy.Numerical.Order != "asc" {
		t.Errorf("policy from a List = %s/%s %+v, want default/worker numerical asc", worker.Namespace, worker.Name, worker.Spec.Policy)
	}
	if got := len(objs.Automations); got != 1 || objs.Automations[0].Spec.Update.Path != "clusters/prod" {
		t.Errorf("Automations = %v, want one with update.path clusters/prod", objs.Automations)
	}
	if got := len(objs.GitRepositories); got != 1 || objs.GitRepositories[0].GetName() != "fleet" {
		t.Errorf("GitRepositories = %v, want fleet", objs.GitRepositories)
	}
	if got := len(objs.Secrets); got != 1 {
		t.Fatalf("len(Secrets) = %d, want 1", got)
	}
	if diff := cmp.Diff(map[string][]byte{"username": []byte("bot"), "password": []byte("hunter2")}, objs.Secrets[0].Data); diff != "" {
		t.Errorf("Secret data (-want +got):\n%s", diff)
	}
	if got := len(objs.ServiceAccounts); got != 1 || objs.ServiceAccounts[0].ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("ServiceAccounts = %v, want apps/scanner with regcred", objs.ServiceAccounts)
	}
	if got := len(objs.Namespaces); got != 1 || objs.Namespaces[0].Namespace != "" || objs.Namespaces[0].Labels["team"] != "web" {
		t.Errorf("Namespaces = %v, want apps labelled team=web and no namespace of its own", objs.Namespaces)
	}
	src, ok := objs.SourceOf("ImagePolicy", "default", "worker")
	if want := (Source{File: "testdata/valid/nested/ours.yaml", Line: 22}); !ok || src != want {
		t.Errorf("SourceOf(worker) = %v, %v; want %v", src, ok, want)
	}
}

func TestLoadReportsEveryProblemWithItsLine(t *testing.T) {
	objs, problems, err := Load(t.Context(), []string{"testdata/invalid"}, Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.Error())
	}
	want := []string{
		"testdata/invalid/broken.yaml:4: parsing YAML: yaml: line 4: did not find expected ',' or ']'",
		"testdata/invalid/objects.yaml:8: ImagePolicy default/two-choices: spec.policy: Invalid value: spec.policy must set exactly one of semver, alphabetical, numerical",
		"testdata/invalid/objects.yaml:20: ImageRepository default/typo: spec.exclusionLst: Forbidden: unknown field",
		"testdata/invalid/objects.yaml:37: ImageUpdateAutomation default/escape: spec.update.path: Invalid value: \"../../etc\": spec.update.path must not contain '..'",
		"testdata/invalid/objects.yaml:47: ImageRepository default/ok: defined twice (first at testdata/invalid/objects.yaml:39)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if len(objs.Repositories) != 1 || objs.Repositories[0].Name != "ok" {
		t.Errorf("Repositories = %v, want only the valid one", objs.Repositories)
	}
}

func TestLoadMissingPath(t *testing.T) {
	if _, _, err := Load(t.Context(), []string{"testdata/nope"}, Options{}); err == nil {
		t.Errorf("Load(missing path) = nil error, want one")
	}
}

func TestSplitPath(t *testing.T) {
	tests := map[string][]string{
		"spec.update.path":          {"spec", "update", "path"},
		"spec.exclusionList[2]":     {"spec", "exclusionList", "2"},
		"spec.options[\"a.b\"]":     {"spec", "options", "a.b"},
		"metadata.labels[app]":      {"metadata", "labels", "app"},
		"spec.items[0].matchLabels": {"spec", "items", "0", "matchLabels"},
	}
	for in, want := range tests {
		if diff := cmp.Diff(want, splitPath(in)); diff != "" {
			t.Errorf("splitPath(%q) (-want +got):\n%s", in, diff)
		}
	}
}

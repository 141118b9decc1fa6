// Package crdschema defaults and validates image.dockhand.dev objects
// without an API server, with the rules the API server itself applies: the
// OpenAPI schema, defaults and CEL rules of the generated CRDs embedded from
// config/crd. The runner uses it so that an object in a file is accepted
// exactly when `kubectl apply` would accept it.
//
// Validation follows the API server's create path: unknown fields are
// reported (kubectl's strict field validation), defaults are applied, then
// the schema and the x-kubernetes-validations rules are checked.
package crdschema

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/dockhand-dev/dockhand/config/crd"
)

// kindSchema is everything needed to check one kind at one version.
type kindSchema struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator // nil when the schema has no CEL rules
}

// Validator checks objects of the kinds in the embedded CRDs. It is safe for
// concurrent use; build it once (New compiles every CEL rule).
type Validator struct {
	kinds map[string]kindSchema // by "group/version, Kind=kind"
}

// New compiles the schemas of the embedded CRDs.
func New() (*Validator, error) {
	return FromFS(crd.Bases, "bases")
}

// FromFS compiles the schemas of every CustomResourceDefinition in the YAML
// files of dir in fsys.
func FromFS(fsys fs.FS, dir string) (*Validator, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading CRDs: %w", err)
	}
	v := &Validator{kinds: map[string]kindSchema{}}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		raw, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading CRD %s: %w", e.Name(), err)
		}
		var def apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(raw, &def); err != nil {
			return nil, fmt.Errorf("decoding CRD %s: %w", e.Name(), err)
		}
		if err := v.add(&def); err != nil {
			return nil, fmt.Errorf("compiling CRD %s: %w", def.Name, err)
		}
	}
	return v, nil
}

func (v *Validator) add(def *apiextensionsv1.CustomResourceDefinition) error {
	for _, ver := range def.Spec.Versions {
		if ver.Schema == nil || ver.Schema.OpenAPIV3Schema == nil {
			return fmt.Errorf("version %s has no schema", ver.Name)
		}
		var internal apiextensionsinternal.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(ver.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return fmt.Errorf("converting schema of %s: %w", ver.Name, err)
		}
		structural, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return fmt.Errorf("structural schema of %s: %w", ver.Name, err)
		}
		schemaValidator, _, err := apiservervalidation.NewSchemaValidator(&internal)
		if err != nil {
			return fmt.Errorf("schema validator of %s: %w", ver.Name, err)
		}
		v.kinds[key(def.Spec.Group+"/"+ver.Name, def.Spec.Names.Kind)] = kindSchema{
			structural: structural,
			schema:     schemaValidator,
			cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
		}
	}
	return nil
}

func key(apiVersion, kind string) string { return apiVersion + ", Kind=" + kind }

// Knows reports whether the validator has a schema for apiVersion and kind.
func (v *Validator) Knows(apiVersion, kind string) bool {
	_, ok := v.kinds[key(apiVersion, kind)]
	return ok
}

// DefaultAndValidate applies the schema's defaults to obj in place (an
// object decoded from JSON or YAML into map[string]any) and returns every
// problem found, each naming its field. Unknown fields are removed from obj
// and reported. An object of an unknown kind is one error.
func (v *Validator) DefaultAndValidate(ctx context.Context, obj map[string]any) field.ErrorList {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	ks, ok := v.kinds[key(apiVersion, kind)]
	if !ok {
		return field.ErrorList{field.NotSupported(field.NewPath("kind"), apiVersion+" "+kind, v.knownKinds())}
	}

	var errs field.ErrorList
	pruned := pruning.PruneWithOptions(obj, ks.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, p := range pruned {
		errs = append(errs, field.Forbidden(field.NewPath(p), "unknown field"))
	}
	structuraldefaulting.Default(obj, ks.structural)

	errs = append(errs, validateMeta(obj)...)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, ks.schema)...)
	if ks.cel != nil {
		celErrs, _ := ks.cel.Validate(ctx, nil, ks.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return errs
}

// validateMeta checks metadata.name and metadata.namespace the way the API
// server does for a namespaced object.
func validateMeta(obj map[string]any) field.ErrorList {
	meta, _ := obj["metadata"].(map[string]any)
	path := field.NewPath("metadata")
	var errs field.ErrorList
	name, _ := meta["name"].(string)
	if name == "" {
		errs = append(errs, field.Required(path.Child("name"), "every object needs a name"))
	} else {
		for _, msg := range validation.NameIsDNSSubdomain(name, false) {
			errs = append(errs, field.Invalid(path.Child("name"), name, msg))
		}
	}
	if ns, _ := meta["namespace"].(string); ns != "" {
		for _, msg := range validation.ValidateNamespaceName(ns, false) {
			errs = append(errs, field.Invalid(path.Child("namespace"), ns, msg))
		}
	}
	return errs
}

func (v *Validator) knownKinds() []string {
	kinds := make([]string, 0, len(v.kinds))
	for k := range v.kinds {
		kinds = append(kinds, k)
	}
	return kinds
}

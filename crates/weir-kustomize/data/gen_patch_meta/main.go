// Command gen_patch_meta writes ../patch_meta.json: the strategic-merge metadata (merge lists, their
// keys, the types reached through fields) and the cluster-scoped kinds of the Kubernetes OpenAPI
// document that kustomize v5.5 embeds (kyaml v0.18.1, Kubernetes v1.21.2).
//
// Run: cd crates/weir-kustomize/data/gen_patch_meta && go run . > ../patch_meta.json
package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// field describes one patch-relevant field of a type.
// Ref: the field is an object of type Ref. Map: the field is a map whose values have type Map.
// List: the field is a list with a merge strategy (Strategy, Keys) whose items have type Items.
type field struct {
	Ref      string   `json:"ref,omitempty"`
	Map      string   `json:"map,omitempty"`
	List     bool     `json:"list,omitempty"`
	Strategy string   `json:"strategy,omitempty"`
	Keys     []string `json:"keys,omitempty"`
	Items    string   `json:"items,omitempty"`
}

type output struct {
	Kinds         map[string]string           `json:"kinds"`
	Types         map[string]map[string]field `json:"types"`
	ClusterScoped []string                    `json:"clusterScoped"`
}

func refName(s spec.Schema) string {
	r := s.Ref.String()
	return strings.TrimPrefix(r, "#/definitions/")
}

func main() {
	root := openapi.Schema()
	defs := root.Definitions
	// raw fields per type, before pruning to the relevant ones
	raw := map[string]map[string]field{}
	for name, def := range defs {
		fs := map[string]field{}
		for fname, prop := range def.Properties {
			rs := &openapi.ResourceSchema{Schema: &prop}
			switch {
			case prop.Ref.String() != "":
				fs[fname] = field{Ref: refName(prop)}
			case len(prop.Type) == 1 && prop.Type[0] == "array":
				strategy, keys := rs.PatchStrategyAndKeyList()
				merge := false
				for _, s := range strings.Split(strategy, ",") {
					if s == "merge" {
						merge = true
					}
				}
				if !merge {
					continue
				}
				f := field{List: true, Strategy: strategy, Keys: keys}
				if prop.Items != nil && prop.Items.Schema != nil {
					f.Items = refName(*prop.Items.Schema)
				}
				fs[fname] = f
			case prop.AdditionalProperties != nil && prop.AdditionalProperties.Schema != nil:
				if r := refName(*prop.AdditionalProperties.Schema); r != "" {
					fs[fname] = field{Map: r}
				}
			}
		}
		raw[name] = fs
	}
	// relevant: a type with a merge list somewhere below it
	relevant := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for name, fs := range raw {
			if relevant[name] {
				continue
			}
			for _, f := range fs {
				if f.List || relevant[f.Ref] || relevant[f.Map] {
					relevant[name] = true
					changed = true
					break
				}
			}
		}
	}
	out := output{Kinds: map[string]string{}, Types: map[string]map[string]field{}}
	for name, fs := range raw {
		if !relevant[name] {
			continue
		}
		kept := map[string]field{}
		for fname, f := range fs {
			switch {
			case f.List:
				if !relevant[f.Items] {
					f.Items = ""
				}
				kept[fname] = f
			case relevant[f.Ref] || relevant[f.Map]:
				kept[fname] = f
			}
		}
		out.Types[name] = kept
	}
	for name, def := range defs {
		gvks, ok := def.Extensions["x-kubernetes-group-version-kind"].([]interface{})
		if !ok {
			continue
		}
		for _, g := range gvks {
			m, ok := g.(map[string]interface{})
			if !ok {
				continue
			}
			group, _ := m["group"].(string)
			version, _ := m["version"].(string)
			kind, _ := m["kind"].(string)
			apiVersion := version
			if group != "" {
				apiVersion = group + "/" + version
			}
			if relevant[name] {
				out.Kinds[apiVersion+" "+kind] = name
			}
			if openapi.IsCertainlyClusterScoped(yaml.TypeMeta{APIVersion: apiVersion, Kind: kind}) {
				out.ClusterScoped = append(out.ClusterScoped, apiVersion+" "+kind)
			}
		}
	}
	sort.Strings(out.ClusterScoped)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}

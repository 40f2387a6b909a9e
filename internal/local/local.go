// Package local reads a folder of journey manifests for the local executor
// (`journey run`, `journey lint`): TouchpointSources, ValidationRules,
// JourneyMaps and the Secrets they refer to, so the same folder applies to a
// cluster unchanged. Objects without a namespace are in "default".
package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// DefaultNamespace holds objects that name none.
const DefaultNamespace = "default"

// Source is a TouchpointSource and the folder of the file it came from.
type Source struct {
	v1alpha1.TouchpointSource
	File string
	Dir  string
}

// Folder is what a folder of manifests holds.
type Folder struct {
	Sources []Source
	Rules   []v1alpha1.ValidationRule
	Maps    []v1alpha1.JourneyMap
	// Secrets by namespace/name, data by key.
	Secrets map[string]map[string]string
	// Files says which file each object came from, by Kind/namespace/name.
	Files map[string]string
}

// FileOf returns the file an object came from.
func (f *Folder) FileOf(kind, namespace, name string) string {
	return f.Files[kind+"/"+namespace+"/"+name]
}

// Load reads every .yaml and .yml file under dir. Unknown fields and kinds of
// this API group are errors naming the file; other kinds are ignored.
func Load(dir string) (*Folder, error) {
	f := &Folder{Secrets: map[string]map[string]string{}, Files: map[string]string{}}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, file := range files {
		if err := f.loadFile(file); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *Folder) loadFile(file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for doc := 1; ; doc++ {
		data, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(data, &head); err != nil {
			return fmt.Errorf("%s (document %d): %w", file, doc, err)
		}
		where := fmt.Sprintf("%s (document %d, %s)", file, doc, head.Kind)
		strict := func(into any) error {
			if err := yaml.UnmarshalStrict(data, into); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			return nil
		}
		switch {
		case head.APIVersion == "v1" && head.Kind == "Secret":
			var s corev1.Secret
			if err := strict(&s); err != nil {
				return err
			}
			vals := map[string]string{}
			for k, v := range s.Data {
				vals[k] = string(v)
			}
			for k, v := range s.StringData {
				vals[k] = v
			}
			f.Secrets[ns(s.Namespace)+"/"+s.Name] = vals
		case head.APIVersion == v1alpha1.GroupVersion.String() && head.Kind == "TouchpointSource":
			var s v1alpha1.TouchpointSource
			if err := strict(&s); err != nil {
				return err
			}
			s.Namespace = ns(s.Namespace)
			f.Files["TouchpointSource/"+s.Namespace+"/"+s.Name] = file
			f.Sources = append(f.Sources, Source{TouchpointSource: s, File: file, Dir: filepath.Dir(file)})
		case head.APIVersion == v1alpha1.GroupVersion.String() && head.Kind == "ValidationRule":
			var v v1alpha1.ValidationRule
			if err := strict(&v); err != nil {
				return err
			}
			v.Namespace = ns(v.Namespace)
			f.Files["ValidationRule/"+v.Namespace+"/"+v.Name] = file
			f.Rules = append(f.Rules, v)
		case head.APIVersion == v1alpha1.GroupVersion.String() && head.Kind == "JourneyMap":
			var m v1alpha1.JourneyMap
			if err := strict(&m); err != nil {
				return err
			}
			m.Namespace = ns(m.Namespace)
			f.Files["JourneyMap/"+m.Namespace+"/"+m.Name] = file
			f.Maps = append(f.Maps, m)
		case strings.HasPrefix(head.APIVersion, v1alpha1.GroupVersion.Group+"/"):
			return fmt.Errorf("%s: unknown kind %s of %s", where, head.Kind, head.APIVersion)
		}
	}
}

func ns(n string) string {
	if n == "" {
		return DefaultNamespace
	}
	return n
}

// Secrets resolves references against the folder's Secret manifests.
type Secrets struct {
	Folder    *Folder
	Namespace string
}

// Value returns the value of ref in the namespace.
func (s Secrets) Value(ref v1alpha1.SecretKeyRef) (string, error) {
	data, ok := s.Folder.Secrets[s.Namespace+"/"+ref.Name]
	if !ok {
		return "", fmt.Errorf("Secret %s/%s is not among the manifests", s.Namespace, ref.Name)
	}
	v, ok := data[ref.Key]
	if !ok {
		return "", fmt.Errorf("Secret %s/%s has no key %q", s.Namespace, ref.Name, ref.Key)
	}
	return v, nil
}

// MountedSecrets resolves references from the files the pod mounts.
type MountedSecrets struct{ Dir string }

// Value reads the mounted file of ref.
func (m MountedSecrets) Value(ref v1alpha1.SecretKeyRef) (string, error) {
	b, err := os.ReadFile(filepath.Join(m.Dir, ref.Name, ref.Key))
	if err != nil {
		return "", fmt.Errorf("Secret %s key %s is not mounted: %w", ref.Name, ref.Key, err)
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// MapSources are the sources of the folder a JourneyMap selects: in its
// namespace, matching its selector.
func (f *Folder) MapSources(m v1alpha1.JourneyMap) ([]Source, error) {
	sel, err := metav1.LabelSelectorAsSelector(&m.Spec.SourceSelector)
	if err != nil {
		return nil, fmt.Errorf("JourneyMap %s/%s: spec.sourceSelector: %w", m.Namespace, m.Name, err)
	}
	var out []Source
	for _, s := range f.Sources {
		if s.Namespace == m.Namespace && sel.Matches(labels.Set(s.Labels)) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Map finds the JourneyMap name names, as name or namespace/name ("": the
// folder's only one).
func (f *Folder) Map(name string) (v1alpha1.JourneyMap, error) {
	var names []string
	for _, m := range f.Maps {
		names = append(names, m.Namespace+"/"+m.Name)
		if name != "" && (m.Name == name || m.Namespace+"/"+m.Name == name) {
			return m, nil
		}
	}
	switch {
	case len(f.Maps) == 0:
		return v1alpha1.JourneyMap{}, errors.New("the folder holds no JourneyMap")
	case name == "" && len(f.Maps) == 1:
		return f.Maps[0], nil
	case name == "":
		return v1alpha1.JourneyMap{}, fmt.Errorf("the folder holds several JourneyMaps (%s): name one with --map", strings.Join(names, ", "))
	}
	return v1alpha1.JourneyMap{}, fmt.Errorf("no JourneyMap %q in the folder (it holds %s)", name, strings.Join(names, ", "))
}

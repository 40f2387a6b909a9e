package api_test

import (
	"fmt"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// An edit changes an object the way a user's bad YAML would.
type edit func(obj map[string]any)

// set replaces the value at path with value, written as YAML. A path is a
// dotted list of fields; a list item is picked with [index] or [name=value],
// e.g. spec.checks[name=volume].volume.
func set(path, value string) edit {
	return func(obj map[string]any) {
		var v any
		Expect(yaml.Unmarshal([]byte(value), &v)).To(Succeed(), "value for %s", path)
		parent, last := walk(obj, path)
		parent[last] = v
	}
}

// del removes the field at path.
func del(path string) edit {
	return func(obj map[string]any) {
		parent, last := walk(obj, path)
		Expect(parent).To(HaveKey(last), "the sample has no %s to delete", path)
		delete(parent, last)
	}
}

// walk returns the map holding the last field of path, and that field's name.
func walk(obj map[string]any, path string) (map[string]any, string) {
	segments := strings.Split(path, ".")
	cur := obj
	for i, seg := range segments {
		field, selector, hasSelector := strings.Cut(strings.TrimSuffix(seg, "]"), "[")
		if i == len(segments)-1 && !hasSelector {
			return cur, field
		}
		next, ok := cur[field]
		Expect(ok).To(BeTrue(), "no field %q on the way to %s", field, path)
		if hasSelector {
			list, ok := next.([]any)
			Expect(ok).To(BeTrue(), "%s is not a list", field)
			next = pick(list, selector, path)
		}
		cur, ok = next.(map[string]any)
		Expect(ok).To(BeTrue(), "%s is not an object in %s", seg, path)
	}
	panic(fmt.Sprintf("path %s ends in a list item", path))
}

func pick(list []any, selector, path string) any {
	if key, want, ok := strings.Cut(selector, "="); ok {
		for _, item := range list {
			if m, ok := item.(map[string]any); ok && fmt.Sprint(m[key]) == want {
				return item
			}
		}
		Fail(fmt.Sprintf("no item with %s=%s in %s", key, want, path))
	}
	i, err := strconv.Atoi(selector)
	Expect(err).NotTo(HaveOccurred(), "selector %q in %s", selector, path)
	Expect(i).To(BeNumerically("<", len(list)), path)
	return list[i]
}

// unstructuredSetChecks replaces spec.checks with the one check given as YAML.
func unstructuredSetChecks(obj map[string]any, check string) error {
	var v any
	if err := yaml.Unmarshal([]byte(check), &v); err != nil {
		return err
	}
	obj["spec"].(map[string]any)["checks"] = []any{v}
	return nil
}

// Package lint is `journey lint -f DIR`: every problem the controller or the
// folder itself would show, before anything runs or is applied. Unknown
// fields, expressions that do not compile, schedules and time zones that do
// not parse, and references that lead nowhere (Secrets, files, relationship
// touchpoints, selectors that match nothing), each with its file and field.
// It exits with status 1 when there is any.
package lint

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/validate"
)

// ErrProblems makes the process exit 1.
var ErrProblems = errors.New("problems found")

// Finding is one problem.
type Finding struct {
	File, Object, Message string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.File, f.Object, f.Message) }

// Run parses args, lints the folder and prints one line per problem.
func Run(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	dir := fs.String("f", "", "folder of journey manifests (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-f DIR is required")
	}
	findings, err := Folder(*dir)
	if err != nil {
		return err
	}
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
	}
	if len(findings) > 0 {
		return fmt.Errorf("%w: %d", ErrProblems, len(findings))
	}
	fmt.Fprintln(stdout, "no problems found")
	return nil
}

// Folder lints every manifest under dir.
func Folder(dir string) ([]Finding, error) {
	folder, err := local.Load(dir)
	if err != nil {
		// Unknown fields and malformed YAML stop the reading; report it as a finding.
		return []Finding{{File: dir, Object: "manifests", Message: err.Error()}}, nil
	}
	env, err := expr.NewEnv()
	if err != nil {
		return nil, err
	}
	var out []Finding
	add := func(kind, ns, name string, msgs ...string) {
		for _, m := range msgs {
			out = append(out, Finding{File: folder.FileOf(kind, ns, name), Object: kind + " " + ns + "/" + name, Message: m})
		}
	}
	touchpoints := map[string]bool{}
	for _, s := range folder.Sources {
		touchpoints[s.Namespace+"/"+s.Spec.Touchpoint] = true
	}
	secret := func(ns string, ref v1alpha1.SecretKeyRef) string {
		data, ok := folder.Secrets[ns+"/"+ref.Name]
		if !ok {
			return fmt.Sprintf("Secret %q is not among the manifests", ref.Name)
		}
		if _, ok := data[ref.Key]; !ok {
			return fmt.Sprintf("Secret %q has no key %q", ref.Name, ref.Key)
		}
		return ""
	}
	for _, s := range folder.Sources {
		add("TouchpointSource", s.Namespace, s.Name, validate.Source(env, &s.Spec)...)
		for _, ref := range render.SourceSecretRefs(s.Spec) {
			if m := secret(s.Namespace, ref); m != "" {
				add("TouchpointSource", s.Namespace, s.Name, m)
			}
		}
		if b := s.Spec.Batch; b != nil && b.File != nil && b.File.Path != "" {
			path := b.File.Path
			if !filepath.IsAbs(path) {
				path = filepath.Join(s.Dir, path)
			}
			if _, err := os.Stat(path); err != nil {
				add("TouchpointSource", s.Namespace, s.Name, fmt.Sprintf("spec.batch.file.path: %s does not exist", b.File.Path))
			}
		}
	}
	for _, r := range folder.Rules {
		var p validate.Problems
		p.AddSelector("spec.sourceSelector", &r.Spec.SourceSelector)
		p = append(p, validate.Checks(env, r.Spec.Checks)...)
		add("ValidationRule", r.Namespace, r.Name, p...)
		for _, c := range r.Spec.Checks {
			if c.Relationship != nil && !touchpoints[r.Namespace+"/"+c.Relationship.Touchpoint] {
				add("ValidationRule", r.Namespace, r.Name, fmt.Sprintf("check %s relationship.touchpoint: no TouchpointSource has touchpoint %q", c.Name, c.Relationship.Touchpoint))
			}
		}
		matched := 0
		for _, s := range folder.Sources {
			if len(runconfig.MatchingRules(&s.TouchpointSource, []v1alpha1.ValidationRule{r})) == 1 {
				matched++
			}
		}
		if matched == 0 {
			add("ValidationRule", r.Namespace, r.Name, "spec.sourceSelector matches no TouchpointSource: the checks apply to nothing")
		}
	}
	for _, m := range folder.Maps {
		add("JourneyMap", m.Namespace, m.Name, validate.Journey(env, &m.Spec)...)
		for _, ref := range render.JourneySecretRefs(m.Spec) {
			if msg := secret(m.Namespace, ref); msg != "" {
				add("JourneyMap", m.Namespace, m.Name, msg)
			}
		}
		sel, err := validate.Selector(&m.Spec.SourceSelector)
		if err != nil {
			continue
		}
		n := 0
		for _, s := range folder.Sources {
			if s.Namespace == m.Namespace && sel.Matches(labelsOf(s.Labels)) {
				n++
			}
		}
		if n == 0 {
			add("JourneyMap", m.Namespace, m.Name, "spec.sourceSelector matches no TouchpointSource")
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

func labelsOf(m map[string]string) labels.Set { return labels.Set(m) }

package cmdflag

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/expr"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/pipeline"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// SourceFlags are the flags of a command that serves one source for as
// long as it runs (receive, consume): the source from the configuration the
// operator renders (--config, Secrets mounted under --secrets-dir) or from a
// folder of manifests (-f DIR --source NAME, Secrets from the folder), and
// the store.
type SourceFlags struct {
	config, dir, name, dsn, secretsDir *string
}

// NewSourceFlags registers the flags on fs; kind names the sources the
// command serves ("webhook", "stream").
func NewSourceFlags(fs *flag.FlagSet, kind string) *SourceFlags {
	return &SourceFlags{
		config:     fs.String("config", "", "the source's run configuration (config.json), as the controller renders it"),
		dir:        fs.String("f", "", "folder of manifests (instead of --config)"),
		name:       fs.String("source", "", "with -f: the "+kind+" TouchpointSource to serve"),
		dsn:        fs.String("store", os.Getenv(runconfig.StoreDSNEnv), "store DSN; default $"+runconfig.StoreDSNEnv),
		secretsDir: fs.String("secrets-dir", runconfig.SecretsDir, "with --config: where referenced Secrets are mounted"),
	}
}

// Served is what such a command serves: the source, its Secrets, its
// compiled pipeline and configuration hash, and the open store (the
// caller closes it).
type Served struct {
	Source   runconfig.Source
	Secrets  connector.Secrets
	Pipeline *pipeline.Pipeline
	Hash     string
	Store    store.Store
}

// Open loads the source, refuses it when accept says why, compiles its
// pipeline and opens the store.
func (f *SourceFlags) Open(ctx context.Context, accept func(runconfig.Source) error) (*Served, error) {
	cfg, secrets, err := loadSource(*f.config, *f.dir, *f.name, *f.secretsDir)
	if err != nil {
		return nil, err
	}
	if err := accept(cfg); err != nil {
		return nil, err
	}
	if *f.dsn == "" {
		return nil, fmt.Errorf("no store: pass --store or set %s", runconfig.StoreDSNEnv)
	}
	env, err := expr.NewEnv()
	if err != nil {
		return nil, err
	}
	p, err := pipeline.New(env, cfg)
	if err != nil {
		return nil, err
	}
	_, hash, err := runconfig.Encode(cfg)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, *f.dsn)
	if err != nil {
		return nil, err
	}
	return &Served{Source: cfg, Secrets: secrets, Pipeline: p, Hash: hash, Store: st}, nil
}

func loadSource(config, dir, name, secretsDir string) (runconfig.Source, connector.Secrets, error) {
	switch {
	case config != "" && dir != "":
		return runconfig.Source{}, nil, fmt.Errorf("pass either --config or -f DIR --source NAME, not both")
	case config != "":
		raw, err := os.ReadFile(config)
		if err != nil {
			return runconfig.Source{}, nil, err
		}
		var cfg runconfig.Source
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return runconfig.Source{}, nil, fmt.Errorf("%s: %w", config, err)
		}
		return cfg, local.MountedSecrets{Dir: secretsDir}, nil
	case dir != "" && name != "":
		folder, err := local.Load(dir)
		if err != nil {
			return runconfig.Source{}, nil, err
		}
		for _, s := range folder.Sources {
			if s.Name == name {
				cfg := render.SourceConfig(&s.TouchpointSource, runconfig.MatchingRules(&s.TouchpointSource, folder.Rules))
				return cfg, local.Secrets{Folder: folder, Namespace: s.Namespace}, nil
			}
		}
		return runconfig.Source{}, nil, fmt.Errorf("no TouchpointSource %q under %s", name, dir)
	}
	return runconfig.Source{}, nil, fmt.Errorf("pass --config FILE, or -f DIR --source NAME")
}

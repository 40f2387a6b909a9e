package cmdflag

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/cjm-dev/journey-operator/internal/connector"
	"github.com/cjm-dev/journey-operator/internal/local"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/runconfig"
)

// Source is the source a long-running data-plane command (receive,
// consume) serves: from the configuration the operator renders (--config,
// Secrets mounted under secretsDir), or from a folder of manifests (-f DIR
// --source NAME, Secrets from the folder).
func Source(config, dir, name, secretsDir string) (runconfig.Source, connector.Secrets, error) {
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

package manager

import (
	"context"
	"strings"
	"testing"
)

// A bad --evaluator-memory stops the manager before it starts, naming the
// flag and what it takes.
func TestEvaluatorMemoryFlag(t *testing.T) {
	for _, v := range []string{"lots", "0", "-1Gi"} {
		err := Run(context.Background(), []string{"--evaluator-memory=" + v})
		if err == nil || !strings.Contains(err.Error(), "evaluator-memory") || !strings.Contains(err.Error(), "2Gi") {
			t.Errorf("--evaluator-memory=%s: %v; want an error naming the flag and an example", v, err)
		}
	}
}

package evaluate

import (
	"context"
	"strings"
	"testing"
)

// A shard outside the number of shards stops `journey evaluate` before it
// reads anything, naming both flags.
func TestShardFlags(t *testing.T) {
	for _, args := range [][]string{{"--shard=2", "--shards=2"}, {"--shard=-1"}, {"--shards=0"}} {
		err := Run(context.Background(), append(args, "--config=/nonexistent/config.json", "--no-status"))
		if err == nil || !strings.Contains(err.Error(), "--shard and --shards") {
			t.Errorf("%v: %v; want an error naming --shard and --shards", args, err)
		}
	}
}

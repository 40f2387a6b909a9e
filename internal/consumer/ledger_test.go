package consumer

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cjm-dev/journey-operator/internal/store"
)

// A financial stream source writes a ledger entry with each committed
// poll, as a webhook does with each delivery: the entries count every
// record once, name the offsets they were read up to, and verify against
// the rows they cover.
func TestFinancialStreamLedger(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		const topic, parts, n = "plays", 2, 40
		kf := cluster(t, kfake.SeedTopics(parts, topic))
		brokers := kf.ListenAddrs()
		st := openStore(t, dsn)
		produce(t, brokers, topic, parts, 0, n)

		src := source(brokers, topic, 10)
		src.Spec.Financial = true
		src.Spec.Mapping.Amount = "double(record.minutes) / 4.0"
		src.Spec.Mapping.Currency = `"usd"`
		c := start(t, st, src, nil)
		eventually(t, "every record stored", func() bool { return stored(t, st, ids(0, n)) == n })
		eventually(t, "every offset stored", func() bool {
			o := storeOffsets(t, st)
			return o[0] == n/parts && o[1] == n/parts
		})

		entries, err := st.LedgerEntries(context.Background(), store.LedgerFilter{Source: sourceID})
		if err != nil {
			t.Fatal(err)
		}
		var read, accepted int64
		for _, e := range entries {
			if e.Kind != store.EntryBatch || !strings.Contains(e.Cursor, "plays/") {
				t.Errorf("entry %d: kind %q, cursor %q: want a batch entry naming the offsets", e.Seq, e.Kind, e.Cursor)
			}
			read += e.Read
			accepted += e.Accepted
		}
		if batches := int(testutil.ToFloat64(c.metrics.batches)); read != n || accepted != n || len(entries) != batches {
			t.Fatalf("the ledger counts %d read and %d accepted in %d entries, want %d each in %d", read, accepted, len(entries), n, batches)
		}
		if _, err := st.Verify(context.Background(), store.VerifyOptions{}); err != nil {
			t.Fatalf("the ledger does not verify: %v", err)
		}
	})
}

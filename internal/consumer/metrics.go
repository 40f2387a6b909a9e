package consumer

import (
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Reasons a commit fails, as the commit failures metric labels them.
const (
	reasonStale = "stale" // a newer claim of a partition: a rebalance moved it
	reasonStore = "store" // the store refused or could not be reached
)

// Metrics are the consumer's Prometheus series, labelled by namespace and
// source.
type Metrics struct {
	records        *prometheus.CounterVec
	batches        prometheus.Counter
	commitFailures *prometheus.CounterVec
	lag            *prometheus.GaugeVec
	assigned       prometheus.Gauge
	brokerUp       prometheus.Gauge
	connectErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, namespace, name string) (*Metrics, error) {
	labels := prometheus.Labels{"namespace": namespace, "source": name}
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "journey_stream_records_total", ConstLabels: labels,
			Help: "Records committed to the store, by outcome: accepted, duplicate, quarantined, rejected."}, []string{"outcome"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "journey_stream_batches_total", ConstLabels: labels,
			Help: "Batches committed with their partitions' offsets."}),
		commitFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "journey_stream_commit_failures_total", ConstLabels: labels,
			Help: "Batches not committed, by reason: stale (a rebalance gave a partition to another consumer), store."}, []string{"reason"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "journey_stream_lag_records", ConstLabels: labels,
			Help: "Records in each assigned partition not yet committed to the store (high watermark minus the store's offset)."}, []string{"topic", "partition"}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "journey_stream_assigned_partitions", ConstLabels: labels,
			Help: "Partitions this consumer owns."}),
		brokerUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "journey_stream_broker_up", ConstLabels: labels,
			Help: "1 when the last connection to a broker succeeded, 0 when it failed."}),
		connectErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "journey_stream_broker_connect_errors_total", ConstLabels: labels,
			Help: "Connections to brokers that failed."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.records, m.batches, m.commitFailures, m.lag, m.assigned, m.brokerUp, m.connectErrors} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }

// brokerHook follows connections to the brokers: franz-go retries them on
// its own, so a broker that is down shows here, not as an error of Run.
type brokerHook struct {
	m *Metrics
	// lastErr is the last connection error, nil once one succeeds.
	lastErr atomic.Pointer[error]
}

var _ kgo.HookBrokerConnect = (*brokerHook)(nil)

func (h *brokerHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.m.connectErrors.Inc()
		h.m.brokerUp.Set(0)
		h.lastErr.Store(&err)
		return
	}
	h.m.brokerUp.Set(1)
	h.lastErr.Store(nil)
}

// Handler serves /metrics and the probes: /healthz while the process runs,
// /readyz while the brokers can be reached (a consumer cut off from them
// is not ready, so its Deployment and the source's status say so).
func (c *Consumer) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := c.BrokerError(); err != nil {
			http.Error(w, "cannot reach the Kafka brokers: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return mux
}

// BrokerError is the last failure to connect to a broker, nil once a
// connection succeeds again.
func (c *Consumer) BrokerError() error {
	if p := c.hook.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

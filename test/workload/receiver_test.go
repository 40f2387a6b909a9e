package workload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// receiverProcess is a Segment source's receiver pod run as a process; it
// can be killed and started again on the same address and store.
type receiverProcess struct {
	t     *testing.T
	addr  string
	proto *exec.Cmd // the pod's command, as podCommand made it
	cmd   *exec.Cmd
	out   bytes.Buffer
}

func (p *receiverProcess) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.proto.Path, p.proto.Args[1:]...)
	p.cmd.Env = p.proto.Env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + p.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("the receiver did not become ready on %s: %s", p.addr, p.out.String())
}

// kill ends the process as an OOM kill or a node failure would: SIGKILL.
func (p *receiverProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// crashing forwards the client's requests to the receiver, one at a time,
// and kills the receiver (then starts it again) on two of them: on the
// second after the receiver committed it and before the client heard
// back, on the fourth before it reached the receiver. The client sees a
// broken connection either way, and retries.
type crashing struct {
	mu       sync.Mutex
	n        int
	receiver *receiverProcess
	kills    atomic.Int32
}

var errKilled = errors.New("connection reset: the receiver was killed")

func (c *crashing) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	switch c.n {
	case 2:
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("the receiver answered %s", resp.Status)
		}
		c.restart()
		return nil, errKilled
	case 4:
		if req.Body != nil {
			req.Body.Close()
		}
		c.restart()
		return nil, errKilled
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (c *crashing) restart() {
	c.receiver.kill()
	c.kills.Add(1)
	c.receiver.start()
}

type sent struct{ ok, failed atomic.Int32 }

func (s *sent) Success(analytics.Message)        { s.ok.Add(1) }
func (s *sent) Failure(analytics.Message, error) { s.failed.Add(1) }

type testLogger struct{ t *testing.T }

func (l testLogger) Logf(format string, args ...any)   { l.t.Logf("analytics-go: "+format, args...) }
func (l testLogger) Errorf(format string, args ...any) { l.t.Logf("analytics-go: "+format, args...) }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The receiver Deployment the controller renders for a Segment source, its
// pod run as a process with the write key mounted from its Secret and the
// store from its env reference: analytics-go's tracks, identifies and pages
// are stored exactly once, though the receiver is killed twice mid-batch
// (once after committing a batch the client never heard about) and the
// client sends those batches again.
func TestSegmentReceiverPodKilledMidBatch(t *testing.T) {
	root := t.TempDir()
	const writeKey = "wk_apps_b81c"
	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "app-events", UID: "uid-app"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "app", System: "segment",
			Webhook: &v1alpha1.WebhookSource{Path: "/segment", Protocol: v1alpha1.WebhookProtocolSegment, Replicas: ptr.To[int32](2),
				WriteKeySecretRef: &v1alpha1.SecretKeyRef{Name: "segment-write-key", Key: "key"}},
		},
	}
	cm, hash, err := render.SourceConfigMap(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := render.Options{Image: "journey:test", StoreSecret: v1alpha1.SecretKeyRef{Name: "journey-store", Key: "dsn"}}
	dep := render.ReceiverDeployment(src, hash, opts)
	dsn := "sqlite://" + filepath.Join(root, "journey.db")
	secrets := map[string]map[string]string{"journey-store": {"dsn": dsn}, "segment-write-key": {"key": writeKey}}
	addr := freeAddr(t)
	p := &receiverProcess{t: t, addr: addr,
		proto: podCommand(t, root, dep.Spec.Template.Spec, cm, secrets, "--secrets-dir", "--listen", addr)}
	p.start()
	defer func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
	}()

	var msgs []analytics.Message
	for i := range 40 {
		msgs = append(msgs, analytics.Track{MessageId: fmt.Sprintf("trk-%02d", i), UserId: fmt.Sprintf("cus_%06d", i%7),
			Event: "Video Playback Completed", Properties: analytics.NewProperties().Set("minutes", 20+i)})
	}
	for i := range 10 {
		msgs = append(msgs, analytics.Identify{MessageId: fmt.Sprintf("idn-%02d", i), UserId: fmt.Sprintf("cus_%06d", i),
			Traits: analytics.NewTraits().Set("plan", "standard")})
		msgs = append(msgs, analytics.Page{MessageId: fmt.Sprintf("pg-%02d", i), AnonymousId: fmt.Sprintf("anon-%02d", i), Name: "Browse"})
	}
	crash := &crashing{receiver: p}
	var s sent
	client, err := analytics.NewWithConfig(writeKey, analytics.Config{
		Endpoint: "http://" + addr + "/segment", Transport: crash, BatchSize: 10, Interval: 50 * time.Millisecond,
		Callback: &s, Logger: testLogger{t}, RetryAfter: func(int) time.Duration { return 50 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := client.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for int(s.ok.Load()+s.failed.Load()) < len(msgs) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if s.ok.Load() != int32(len(msgs)) || crash.kills.Load() != 2 {
		t.Fatalf("analytics-go sent %d of %d messages (gave up on %d); the receiver was killed %d times, want 2\n%s",
			s.ok.Load(), len(msgs), s.failed.Load(), crash.kills.Load(), p.out.String())
	}

	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := make([]string, 0, len(msgs))
	for _, prefix := range []struct {
		p string
		n int
	}{{"trk", 40}, {"idn", 10}, {"pg", 10}} {
		for i := range prefix.n {
			ids = append(ids, fmt.Sprintf("%s-%02d", prefix.p, i))
		}
	}
	known, err := st.ExistingEvents(context.Background(), "media/app-events", ids)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = st.ScanEvents(context.Background(), store.EventQuery{Sources: []string{"media/app-events"}}, func(*store.Event, []byte) error {
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != len(msgs) || n != len(msgs) {
		t.Fatalf("stored %d events (%d of the messages sent), want each of %d once", n, len(known), len(msgs))
	}
}

package workload_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/render"
	"github.com/cjm-dev/journey-operator/internal/store"
)

// The consumer Deployment the controller renders for a Kafka source, its
// pod run as a process with its CA and SASL credentials mounted from their
// Secrets and the store from its env reference, against kfake over TLS with
// SCRAM authentication (SASL_SSL, as managed Kafka services run): it
// becomes ready, stores every record once, counts them on /metrics, and
// stops cleanly on SIGTERM.
func TestConsumerPodConsumesWithItsMountedCredentials(t *testing.T) {
	const user, pass, topic, n = "journey", "s3cret-scram", "plays", 60
	caPEM, serverTLS := brokerTLS(t)
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", user, pass),
		kfake.TLS(serverTLS), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()

	root := t.TempDir()
	src := &v1alpha1.TouchpointSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: "media", Name: "plays", UID: "uid-plays"},
		Spec: v1alpha1.TouchpointSourceSpec{
			Touchpoint: "playback", System: "player",
			Stream: &v1alpha1.StreamSource{Kafka: &v1alpha1.KafkaStream{
				Brokers: kf.ListenAddrs(), Topics: []string{topic}, ConsumerGroup: "journey-plays", MaxPollRecords: 25,
				TLS: &v1alpha1.KafkaTLS{CASecretRef: &v1alpha1.SecretKeyRef{Name: "kafka-ca", Key: "ca.crt"}},
				SASL: &v1alpha1.KafkaSASL{Mechanism: v1alpha1.KafkaSASLScramSHA512,
					UsernameSecretRef: v1alpha1.SecretKeyRef{Name: "kafka-user", Key: "username"},
					PasswordSecretRef: v1alpha1.SecretKeyRef{Name: "kafka-user", Key: "password"}},
			}},
			Mapping: v1alpha1.EventMapping{EventID: "record.id", UserID: "record.user", OccurredAt: "timestamp(record.at)", Type: `"playback.session"`},
		},
	}
	cm, hash, err := render.SourceConfigMap(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	dep := render.ConsumerDeployment(src, hash, render.Options{Image: "journey:test", StoreSecret: v1alpha1.SecretKeyRef{Name: "journey-store", Key: "dsn"}})
	dsn := "sqlite://" + filepath.Join(root, "journey.db")
	secrets := map[string]map[string]string{"journey-store": {"dsn": dsn}, "kafka-user": {"username": user, "password": pass},
		"kafka-ca": {"ca.crt": string(caPEM)}}
	addr := freeAddr(t)
	cmd := podCommand(t, root, dep.Spec.Template.Spec, cm, secrets, "--secrets-dir", "--listen", addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	producer, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...), kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()),
		kgo.DialTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("ses-%03d", i)
		rec := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, `{"id":%q,"user":"u%d","at":"2026-11-30T12:00:%02dZ"}`, ids[i], i%5, i%60)}
		if err := producer.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		known, err := st.ExistingEvents(context.Background(), "media/plays", ids)
		if err == nil && len(known) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records stored; the consumer said:\n%s", len(known), n, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d: %s", code, body)
	}
	_, metrics := get("/metrics")
	if !strings.Contains(metrics, `journey_stream_records_total{namespace="media",outcome="accepted",source="plays"} 60`) {
		t.Fatalf("/metrics does not count the 60 records accepted:\n%s", metrics)
	}
	var stored int
	if err := st.ScanEvents(context.Background(), store.EventQuery{Sources: []string{"media/plays"}}, func(*store.Event, []byte) error {
		stored++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stored != n {
		t.Fatalf("%d events stored, want %d", stored, n)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the consumer did not stop cleanly on SIGTERM: %v\n%s", err, out.String())
	}
}

// brokerTLS is a CA (PEM, as a Secret would hold it) and a broker's server
// configuration with a certificate it signed for 127.0.0.1.
func brokerTLS(t *testing.T) ([]byte, *tls.Config) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey, brokerKey := key(), key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kafka-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	brokerDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka-0"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &brokerKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{brokerDER}, PrivateKey: brokerKey}}}
}

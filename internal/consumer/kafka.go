package consumer

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/connector"
)

// clientOpts are the franz-go options of a spec.stream.kafka: brokers,
// TLS and SASL from the mounted Secrets. The group's options are the
// consumer's (see New).
func clientOpts(k *v1alpha1.KafkaStream, secrets connector.Secrets) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ConsumeTopics(k.Topics...),
		// A transactional producer's aborted records are never events.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}
	if t := k.TLS; t != nil {
		cfg, err := tlsConfig(t, secrets)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s := k.SASL; s != nil {
		mech, err := saslMechanism(s, secrets)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

func tlsConfig(t *v1alpha1.KafkaTLS, secrets connector.Secrets) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CASecretRef != nil {
		pem, err := secrets.Value(*t.CASecretRef)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(pem)) {
			return nil, fmt.Errorf("spec.stream.kafka.tls.caSecretRef: Secret %s key %s holds no PEM certificate", t.CASecretRef.Name, t.CASecretRef.Key)
		}
		cfg.RootCAs = pool
	}
	if t.CertSecretRef != nil && t.KeySecretRef != nil {
		cert, err := secrets.Value(*t.CertSecretRef)
		if err != nil {
			return nil, err
		}
		key, err := secrets.Value(*t.KeySecretRef)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			return nil, fmt.Errorf("spec.stream.kafka.tls: the client certificate (Secret %s) and key (Secret %s) do not make a pair: %w",
				t.CertSecretRef.Name, t.KeySecretRef.Name, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func saslMechanism(s *v1alpha1.KafkaSASL, secrets connector.Secrets) (sasl.Mechanism, error) {
	user, err := secrets.Value(s.UsernameSecretRef)
	if err != nil {
		return nil, err
	}
	pass, err := secrets.Value(s.PasswordSecretRef)
	if err != nil {
		return nil, err
	}
	switch s.Mechanism {
	case v1alpha1.KafkaSASLPlain:
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case v1alpha1.KafkaSASLScramSHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case v1alpha1.KafkaSASLScramSHA512:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("spec.stream.kafka.sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
}

// startOffset is where a partition the store has nothing for starts.
func startOffset(k *v1alpha1.KafkaStream) kgo.Offset {
	if k.StartOffset == v1alpha1.KafkaStartLatest {
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().AtStart()
}

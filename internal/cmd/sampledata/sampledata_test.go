package sampledata

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/sampledata"
)

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "streaming")
	var out bytes.Buffer
	err := Run(context.Background(), []string{"--out", dir, "--users", "120", "--days", "21", "--seed", "9", "--start", "2026-01-05T00:00:00Z"}, &out)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, want := range []string{"wrote " + dir, "120 users", "2026-01-26T00:00:00Z", "journey run -f " + dir, "billing-stripe"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, sampledata.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m sampledata.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	want := sampledata.ManifestConfig{Users: 120, Days: 21, Seed: 9, Start: "2026-01-05T00:00:00Z", AsOf: "2026-01-26T00:00:00Z"}
	if m.Config != want {
		t.Errorf("config %+v, want %+v", m.Config, want)
	}
	for _, f := range []string{"README.md", sampledata.FileBilling, "journeymap-streaming.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}

	out.Reset()
	if err := Run(context.Background(), []string{"--out", dir, "--users", "120", "--days", "21", "--seed", "9", "--start", "2026-01-05T00:00:00Z", "--quiet"}, &out); err != nil || out.Len() != 0 {
		t.Errorf("--quiet: %v, printed %q", err, out.String())
	}
	again, err := os.ReadFile(filepath.Join(dir, sampledata.ManifestFile))
	if err != nil || !bytes.Equal(again, raw) {
		t.Errorf("a second run over the same folder wrote a different expected.json (%v)", err)
	}
}

func TestRunDefaults(t *testing.T) {
	dir := t.TempDir()
	if err := Run(context.Background(), []string{"--out", dir, "--quiet"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, sampledata.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m sampledata.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	want := sampledata.ManifestConfig{Users: 2000, Days: 60, Seed: 1, Start: "2026-09-01T00:00:00Z", AsOf: "2026-10-31T00:00:00Z"}
	if m.Config != want {
		t.Errorf("defaults %+v, want %+v", m.Config, want)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--out DIR is required"},
		{[]string{"--out", dir, "--users", "0"}, "users must be between"},
		{[]string{"--out", dir, "--days", "3"}, "days must be between"},
		{[]string{"--out", dir, "--start", "yesterday"}, "RFC 3339"},
		{[]string{"--out", dir, "extra"}, "unexpected argument"},
		{[]string{"--users", "x"}, "invalid value"},
	} {
		err := Run(context.Background(), tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

package sampledata

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// This file reads a generated folder back without using the generator's
// code: what the tests assert is recounted from the files themselves.

// generate writes cfg into a fresh temporary folder.
func generate(t testing.TB, cfg Config) (string, *Manifest) {
	t.Helper()
	dir := t.TempDir()
	m, err := Generate(context.Background(), dir, cfg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return dir, m
}

// readManifest reads expected.json as written.
func readManifest(t testing.TB, dir string) *Manifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	return &m
}

type play struct {
	t       time.Time
	minutes float64
}

// tally is what the files hold, counted independently.
type tally struct {
	records     map[string]int64 // by source
	undecodable map[string]int64
	newest      map[string]time.Time
	// anomalies of the billing feed by kind.
	anomalies map[string]int64
	// types of billing records (duplicates included).
	types map[string]int64
	// known customers (CRM).
	known map[string]bool
	// first live payment failure per customer, and every live one.
	firstFailure map[string]time.Time
	failures     map[string][]time.Time
	// playback sessions per user.
	sessions map[string][]play
	// decoded records per source, for mapping checks.
	decoded map[string][]map[string]any
}

func scan(t *testing.T, dir string) *tally {
	t.Helper()
	tl := &tally{records: map[string]int64{}, undecodable: map[string]int64{}, newest: map[string]time.Time{},
		anomalies: map[string]int64{}, types: map[string]int64{}, known: map[string]bool{},
		firstFailure: map[string]time.Time{}, failures: map[string][]time.Time{}, sessions: map[string][]play{},
		decoded: map[string][]map[string]any{}}
	tl.scanCRM(t, filepath.Join(dir, FileCRM))
	newest := func(source string, at time.Time) {
		if at.After(tl.newest[source]) {
			tl.newest[source] = at
		}
	}
	rfc := func(v any) time.Time {
		s, _ := v.(string)
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("not an RFC 3339 time: %v", v)
		}
		return at
	}
	for _, f := range []struct{ source, file string }{
		{SourceCatalog, FileCatalog}, {SourcePlayback, FilePlayback}, {SourceBilling, FileBilling},
		{SourceSupport, FileSupport}, {SourceFeedback, FileFeedback},
	} {
		seenIDs := map[string][]byte{}
		paidIntents := map[string]bool{}
		eachLine(t, filepath.Join(dir, f.file), func(line []byte) {
			tl.records[f.source]++
			rec, ok := decodeRecord(line)
			if !ok {
				tl.undecodable[f.source]++
				return
			}
			tl.decoded[f.source] = append(tl.decoded[f.source], rec)
			switch f.source {
			case SourceCatalog:
				newest(f.source, rfc(rec["viewed_at"]))
			case SourcePlayback:
				at := rfc(rec["ended_at"])
				newest(f.source, at)
				user := rec["user_id"].(string)
				tl.sessions[user] = append(tl.sessions[user], play{at, float64(rec["watched_seconds"].(int64)) / 60})
			case SourceSupport:
				newest(f.source, rfc(rec["updated_at"]))
			case SourceFeedback:
				newest(f.source, rfc(rec["form_response"].(map[string]any)["submitted_at"]))
			case SourceBilling:
				at := time.Unix(rec["created"].(int64), 0).UTC()
				newest(f.source, at)
				typ := rec["type"].(string)
				tl.types[typ]++
				id := rec["id"].(string)
				if first, ok := seenIDs[id]; ok {
					if !bytes.Equal(first, line) {
						t.Errorf("billing event %s appears twice with different bytes", id)
					}
					tl.anomalies[AnomalyExactDuplicate]++
					return
				}
				seenIDs[id] = bytes.Clone(line)
				obj := rec["data"].(map[string]any)["object"].(map[string]any)
				customer := obj["customer"].(string)
				var kinds []string
				if rec["livemode"] != true {
					kinds = append(kinds, AnomalyTestMode)
				}
				if !tl.known[customer] {
					kinds = append(kinds, AnomalyUnknownCustomer)
				}
				if _, ok := obj["currency"]; !ok && len(typ) > 8 && typ[:8] == "invoice." {
					kinds = append(kinds, AnomalyMissingCurrency)
				}
				if typ == "invoice.paid" {
					if obj["amount_paid"].(int64) < 0 {
						kinds = append(kinds, AnomalyNegativeAmount)
					}
					pi := obj["payment_intent"].(string)
					if paidIntents[pi] {
						kinds = append(kinds, AnomalyDuplicatePayment)
					}
					paidIntents[pi] = true
				}
				if len(kinds) > 1 {
					t.Errorf("billing event %s has more than one anomaly: %v", id, kinds)
				}
				for _, k := range kinds {
					tl.anomalies[k]++
				}
				if typ == "invoice.payment_failed" && len(kinds) == 0 {
					if _, ok := tl.firstFailure[customer]; !ok {
						tl.firstFailure[customer] = at
					}
					tl.failures[customer] = append(tl.failures[customer], at)
				}
			}
		})
	}
	return tl
}

func (tl *tally) scanCRM(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"account_id", "stripe_customer_id", "country", "signup_channel", "updated_at"}
	if !slices.Equal(header, want) {
		t.Fatalf("CRM header %v, want %v", header, want)
	}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		tl.records[SourceCRM]++
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			tl.undecodable[SourceCRM]++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339, row[4])
		if err != nil {
			t.Fatalf("CRM row %v: %v", row, err)
		}
		if at.After(tl.newest[SourceCRM]) {
			tl.newest[SourceCRM] = at
		}
		if tl.known[row[1]] {
			t.Errorf("CRM has customer %s twice", row[1])
		}
		tl.known[row[1]] = true
		rec := map[string]any{}
		for i, h := range header {
			rec[h] = row[i]
		}
		tl.decoded[SourceCRM] = append(tl.decoded[SourceCRM], rec)
	}
}

func eachLine(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			t.Errorf("%s: blank line", path)
			continue
		}
		fn(line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// decodeRecord decodes a JSON object the way the file connector does:
// integers as int64, other numbers as float64.
func decodeRecord(line []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	m, ok := normalize(v).(map[string]any)
	return m, ok
}

func normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
	}
	return v
}

// minutes sums a user's playback minutes with from <= t < to.
func minutes(ss []play, from, to time.Time) float64 {
	sum := 0.0
	for _, s := range ss {
		if !s.t.Before(from) && s.t.Before(to) {
			sum += s.minutes
		}
	}
	return sum
}

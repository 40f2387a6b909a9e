package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
	"github.com/cjm-dev/journey-operator/internal/expr"
)

// secrets is a Secrets backed by a map keyed "name/key".
type secrets map[string]string

func (s secrets) Value(ref v1alpha1.SecretKeyRef) (string, error) {
	v, ok := s[ref.Name+"/"+ref.Key]
	if !ok {
		return "", fmt.Errorf("no key %s in Secret %s", ref.Key, ref.Name)
	}
	return v, nil
}

var (
	envOnce sync.Once
	env     *expr.Env
	envErr  error
)

func testEnv(t testing.TB) *expr.Env {
	t.Helper()
	envOnce.Do(func() { env, envErr = expr.NewEnv() })
	if envErr != nil {
		t.Fatal(envErr)
	}
	return env
}

// result is what one Next returned.
type result struct {
	rec Record
	err error
}

// drain reads r to io.EOF or to the first error that is not a
// *DecodeError, and returns the records and decode errors in order, and
// the error that ended it (nil for io.EOF).
func drain(t testing.TB, r Reader) ([]result, error) {
	t.Helper()
	var out []result
	for i := 0; ; i++ {
		if i > 1_000_000 {
			t.Fatal("reader does not end")
		}
		rec, err := r.Next(context.Background())
		if err == io.EOF {
			return out, nil
		}
		var de *DecodeError
		if err != nil && !errors.As(err, &de) {
			return out, err
		}
		if err == nil && rec == nil {
			t.Fatal("Next returned neither a record nor an error")
		}
		if err != nil && rec != nil {
			t.Fatal("Next returned a record and a decode error")
		}
		out = append(out, result{rec, err})
	}
}

// records returns the records of rs, failing on a decode error.
func records(t testing.TB, rs []result) []Record {
	t.Helper()
	var out []Record
	for _, r := range rs {
		if r.err != nil {
			t.Fatalf("unexpected decode error: %v", r.err)
		}
		out = append(out, r.rec)
	}
	return out
}

// shape renders results as "R" for a record and "D" for a decode error.
func shape(rs []result) string {
	s := make([]byte, len(rs))
	for i, r := range rs {
		if r.err != nil {
			s[i] = 'D'
		} else {
			s[i] = 'R'
		}
	}
	return string(s)
}

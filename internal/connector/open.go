package connector

import (
	"context"
	"errors"

	"github.com/cjm-dev/journey-operator/api/v1alpha1"
)

// open dispatches to the one connector the batch source sets.
func open(ctx context.Context, b *v1alpha1.BatchSource, opts Options) (Reader, error) {
	if b == nil {
		return nil, errors.New("the source has no spec.batch")
	}
	n := 0
	for _, set := range []bool{b.HTTP != nil, b.File != nil, b.SQL != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("exactly one of spec.batch.http, spec.batch.file or spec.batch.sql must be set")
	}
	switch {
	case b.HTTP != nil:
		return openHTTP(ctx, b.HTTP, opts)
	case b.File != nil:
		return openFile(ctx, b.File, opts)
	default:
		return openSQL(ctx, b.SQL, opts)
	}
}

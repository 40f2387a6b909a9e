// Package serve runs a command's HTTP server for as long as the command runs.
package serve

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Until serves srv until it fails or ctx is done, then shuts it down,
// letting requests in flight finish for up to 10 seconds.
func Until(ctx context.Context, srv *http.Server) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// Package httpserver runs a command's HTTP server for as long as the
// command runs.
package httpserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Until serves srv on its Addr until it fails or ctx is done.
func Until(ctx context.Context, srv *http.Server) error {
	addr := srv.Addr
	if addr == "" {
		addr = ":http"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return Serve(ctx, srv, ln)
}

// Serve serves srv on ln until it fails or ctx is done, then shuts it
// down, letting requests in flight finish for up to 10 seconds.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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

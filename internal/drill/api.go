package drill

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Page sizes.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// Handler serves the drill-down API under /api/v1/.
func (x *Index) Handler() http.Handler {
	mux := http.NewServeMux()
	with := func(fn func(r *http.Request, f Filters, offset, limit int) (any, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			f, err := x.ParseFilters(q)
			if err != nil {
				reply(w, nil, err)
				return
			}
			offset, limit, err := paging(q.Get("offset"), q.Get("limit"))
			if err != nil {
				reply(w, nil, err)
				return
			}
			v, err := fn(r, f, offset, limit)
			reply(w, v, err)
		}
	}
	mux.Handle("GET /api/v1/journey", with(func(r *http.Request, f Filters, _, _ int) (any, error) { return x.Journey(f) }))
	mux.Handle("GET /api/v1/stages/{stage}", with(func(r *http.Request, f Filters, offset, limit int) (any, error) {
		return x.Stage(r.PathValue("stage"), f, offset, limit)
	}))
	mux.Handle("GET /api/v1/flows/{from}/{to}", with(func(r *http.Request, f Filters, offset, limit int) (any, error) {
		return x.Flow(r.PathValue("from"), r.PathValue("to"), f, r.URL.Query().Get("outcome"), offset, limit)
	}))
	mux.Handle("GET /api/v1/users/{user}", with(func(r *http.Request, _ Filters, _, _ int) (any, error) {
		return x.User(r.Context(), r.PathValue("user"))
	}))
	mux.Handle("GET /api/v1/alerts/{alert}", with(func(r *http.Request, f Filters, _, _ int) (any, error) {
		return x.Alert(r.PathValue("alert"), f)
	}))
	mux.Handle("GET /api/v1/sources/{source}", with(func(r *http.Request, _ Filters, _, _ int) (any, error) {
		return x.Source(r.Context(), r.PathValue("source"))
	}))
	mux.Handle("GET /api/v1/trends", with(func(r *http.Request, f Filters, _, _ int) (any, error) { return x.Trends(f) }))
	mux.Handle("GET /api/v1/kpis", with(func(r *http.Request, f Filters, _, _ int) (any, error) { return x.KPIs(r.Context(), f) }))
	mux.Handle("GET /api/v1/revenue", with(func(r *http.Request, f Filters, _, _ int) (any, error) { return x.Revenue(f) }))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "the drill-down API is read-only: use GET"})
			return
		}
		reply(w, nil, &NotFound{"API path " + r.URL.Path + " (see README: /api/v1/journey, stages, flows, users, alerts, sources, trends, revenue, kpis)"})
	})
	return mux
}

func paging(offset, limit string) (int, int, error) {
	o, l := 0, defaultLimit
	var err error
	if offset != "" {
		if o, err = strconv.Atoi(offset); err != nil || o < 0 {
			return 0, 0, badf("offset %q: want a number of 0 or more", offset)
		}
	}
	if limit != "" {
		if l, err = strconv.Atoi(limit); err != nil || l < 1 || l > maxLimit {
			return 0, 0, badf("limit %q: want a number from 1 to %d", limit, maxLimit)
		}
	}
	return o, l, nil
}

// reply writes v as JSON, or the error with its status.
func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		status := http.StatusInternalServerError
		var bad *BadRequest
		var missing *NotFound
		switch {
		case errors.As(err, &bad):
			status = http.StatusBadRequest
		case errors.As(err, &missing):
			status = http.StatusNotFound
		case errors.Is(err, ErrNotReady):
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

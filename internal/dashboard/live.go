package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

// liveContentSecurityPolicy is the static page's policy plus the page's own
// scripts and their calls to the drill-down API, both only from the origin
// that served the page: still nothing inline, nothing from elsewhere.
const liveContentSecurityPolicy = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

// idleReloadSeconds is how long the live page waits without input, and with
// no panel open, before it reloads itself for the latest evaluation: the
// static page's refresh would close a panel someone is reading.
const idleReloadSeconds = refreshSeconds

var (
	//go:embed live.html.tmpl
	liveTemplate string
	//go:embed live.css
	liveCSS string
	//go:embed js/*.js
	scriptFiles embed.FS

	// livePage is the page with the live blocks filled in: the filter bar,
	// the sections the scripts load, the drill panel.
	livePage = template.Must(template.Must(page.Clone()).Parse(liveTemplate))
	scripts  = loadScripts()
)

// LiveOptions are what the interactive page needs from the server that
// also serves the drill-down API under /api/v1/.
type LiveOptions struct {
	// Snapshot is the journey of the users a request's segment filters keep
	// (its `segment=name=value` parameters, all of which must hold; none:
	// every user). An error means the filters cannot be applied: the page
	// then says why and shows every user.
	Snapshot func(filters url.Values) (journey.Snapshot, error)
	// Segments are the map's spec.segments: the filter bar has a choice for
	// each.
	Segments []string
}

// LiveHandler serves the interactive page at "/" and its scripts under
// "/js/". The page is the one Render writes, for the request's segment
// filters, plus a filter bar and panels that drill into stages, flows,
// users, alerts and sources through the API; trends, revenue and KPIs load
// from the API too. The page's URLs are relative, so that it works behind a
// proxy that serves it under a path.
func LiveHandler(o LiveOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the journey map page is read-only: use GET", http.StatusMethodNotAllowed)
			return
		}
		switch {
		case r.URL.Path == "/":
			o.servePage(w, r)
		case strings.HasPrefix(r.URL.Path, "/js/"):
			serveScript(w, r, strings.TrimPrefix(r.URL.Path, "/js/"))
		default:
			http.NotFound(w, r)
		}
	})
}

// liveView is what the live blocks of the template read.
type liveView struct {
	view
	LiveCSS    template.CSS
	IdleReload int
	Filters    []filterView
	// Filtered names the filters applied ("country = US"), "" for none.
	Filtered string
	// Problem is why the page is not what was asked for.
	Problem string
}

type filterView struct{ Name, Value string }

func (o LiveOptions) servePage(w http.ResponseWriter, r *http.Request) {
	applied := url.Values{}
	if f := r.URL.Query()["segment"]; len(f) > 0 {
		applied["segment"] = f
	}
	status, problem := http.StatusOK, ""
	snap, err := o.snapshot(applied)
	if err != nil && len(applied) > 0 {
		status, problem = http.StatusBadRequest, fmt.Sprintf("Segment filter not applied: %v. The page shows every user.", err)
		applied = url.Values{}
		snap, err = o.snapshot(applied)
		if err == nil && snap.EvaluatedAt.IsZero() {
			status = http.StatusServiceUnavailable // nothing evaluated yet, so nothing to filter
		}
	}
	if err != nil {
		status, problem, snap = http.StatusServiceUnavailable, err.Error(), journey.Snapshot{}
	}

	v := liveView{view: newView(snap, 0), LiveCSS: template.CSS(liveCSS), IdleReload: idleReloadSeconds, Problem: problem}
	v.CSP = liveContentSecurityPolicy
	var named []string
	for _, s := range o.Segments {
		f := filterView{Name: s}
		for _, p := range applied["segment"] {
			if name, value, _ := strings.Cut(p, "="); name == s && f.Value == "" {
				f.Value = value
				named = append(named, s+" = "+value)
			}
		}
		v.Filters = append(v.Filters, f)
	}
	v.Filtered = strings.Join(named, " and ")

	var buf bytes.Buffer
	if err := livePage.Execute(&buf, v); err != nil {
		http.Error(w, fmt.Sprintf("rendering the journey map page of %s/%s: %v", snap.Namespace, snap.Name, err), http.StatusInternalServerError)
		return
	}
	writePage(w, r, status, liveContentSecurityPolicy, buf.Bytes())
}

func (o LiveOptions) snapshot(filters url.Values) (journey.Snapshot, error) {
	if o.Snapshot == nil {
		return journey.Snapshot{}, nil
	}
	return o.Snapshot(filters)
}

// script is one of the page's scripts, with the ETag a browser revalidates
// its copy with.
type script struct {
	body []byte
	etag string
}

func loadScripts() map[string]script {
	out := map[string]script{}
	err := fs.WalkDir(scriptFiles, "js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := scriptFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		out[path.Base(p)] = script{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("reading the page's embedded scripts: %v", err))
	}
	return out
}

func serveScript(w http.ResponseWriter, r *http.Request, name string) {
	s, ok := scripts[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	// Module scripts must be served as JavaScript; nosniff holds the
	// browser to it.
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	// Revalidated each time: another build serves other scripts.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", s.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.body))
}

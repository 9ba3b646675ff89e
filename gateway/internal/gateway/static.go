package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"backtestd/gateway/internal/gen/web"
)

// staticFiles serves the dashboard: pages (index.html at /, job.html at /jobs/{job_id}/,
// docs.html at /docs, compare.html at /compare/, sweep_form.html at /sweeps/, sweep.html at
// /sweeps/{sweep_id}/) and assets under /static/. Files come from Options.Static, else
// Options.StaticDir, else the bundle embedded at build time. Safe for concurrent use.
type staticFiles struct {
	fsys     fs.FS
	embedded bool // contents never change, so ETags can be cached

	mu    sync.Mutex
	etags map[string]string
}

func newStaticFiles(opts Options) (*staticFiles, error) {
	switch {
	case opts.Static != nil:
		return &staticFiles{fsys: opts.Static}, nil
	case opts.StaticDir != "":
		fsys, err := staticDirFS(opts.StaticDir)
		if err != nil {
			return nil, err
		}
		return &staticFiles{fsys: fsys}, nil
	}
	sub, err := fs.Sub(web.Dist, "dist")
	if err != nil {
		return nil, err
	}
	return &staticFiles{fsys: sub, embedded: true, etags: map[string]string{}}, nil
}

// page returns a handler serving one page, whatever the path parameters.
func (s *staticFiles) page(name string) func(http.ResponseWriter, *http.Request, map[string]string) {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		s.serve(w, r, name)
	}
}

// asset serves /static/{path=**}.
func (s *staticFiles) asset(w http.ResponseWriter, r *http.Request, params map[string]string) {
	p := params["path"]
	clean := path.Clean("/" + p)[1:]
	if p == "" || clean != p || strings.HasPrefix(p, ".") {
		errorf(w, codes.NotFound, "no such file: /static/%s", p)
		return
	}
	s.serve(w, r, "static/"+clean)
}

func (s *staticFiles) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, err := s.fsys.Open(name)
	if err != nil {
		errorf(w, codes.NotFound, "no such file: %s (is the dashboard built?)", name)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		errorf(w, codes.NotFound, "no such file: %s", name)
		return
	}
	data, err := io.ReadAll(f)
	if err != nil {
		errorf(w, codes.Internal, "reading %s: %v", name, err)
		return
	}
	w.Header().Set("Cache-Control", "no-cache") // revalidate with the ETag every time
	w.Header().Set("ETag", s.etag(name, data))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func (s *staticFiles) etag(name string, data []byte) string {
	if s.embedded {
		s.mu.Lock()
		defer s.mu.Unlock()
		if e, ok := s.etags[name]; ok {
			return e
		}
	}
	sum := sha256.Sum256(data)
	e := `"` + hex.EncodeToString(sum[:12]) + `"`
	if s.embedded {
		s.etags[name] = e
	}
	return e
}

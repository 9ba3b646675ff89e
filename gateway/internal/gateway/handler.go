package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Handler is the gateway's HTTP handler (NewHandler). Every request gets a request id (the
// client's X-Request-Id when well-formed, else a new one; sent back in the answer and to
// backtestd), is counted in the metrics and written to the access log in one line when its
// answer is complete, and is routed by gatewayHandler. Safe for concurrent use.
type Handler struct {
	router  *gatewayHandler
	metrics *metrics
	logger  *slog.Logger
}

// ServeHTTP serves one request: id, route, metrics and access log around the router.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{id: requestID(r.Header.Get(requestIDHeader)), route: routeUnmatched, header: w.Header()}
	w.Header().Set(requestIDHeader, info.id)
	rec := &responseRecorder{ResponseWriter: w}
	h.metrics.inFlight.Inc()
	defer h.metrics.inFlight.Dec()

	h.router.ServeHTTP(rec, r.WithContext(withRequestInfo(r.Context(), info)))

	d := time.Since(start)
	code := rec.statusCode()
	h.metrics.observe(info.route, r.Method, code, rec.bytes, d)
	h.logAccess(r, info, code, rec.bytes, d)
}

// Drain makes /readyz answer 503 from now on: the gateway is shutting down. Everything else is
// served as before; Run calls it first when its context is done.
func (h *Handler) Drain() { h.router.draining.Store(true) }

// MetricsHandler serves the gateway's metrics in the Prometheus text format (Run serves it at
// /metrics on Options.MetricsListen).
func (h *Handler) MetricsHandler() http.Handler { return h.metrics.handler() }

// logAccess writes the access line of one request. It names no header and no query string: the
// token is in Authorization, and in ?token= of the dashboard's login link. The gateway does not
// know the user; backtestd's line of the same request id names it.
func (h *Handler) logAccess(r *http.Request, info *requestInfo, code int, bytes int64, d time.Duration) {
	h.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("request_id", info.id),
		slog.String("method", r.Method),
		slog.String("route", info.route),
		slog.String("path", r.URL.Path),
		slog.Int("status", code),
		slog.Int64("bytes", bytes),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("remote", r.RemoteAddr),
	)
}

// NewLogger is the logger of --log-format: "text" (slog's key=value lines, the default) or
// "json" (one JSON object a line), writing to w.
func NewLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// responseRecorder notes the status and the body bytes of an answer on its way out. Used by the
// request's goroutine only.
type responseRecorder struct {
	http.ResponseWriter
	status int // 0 until the status line is written
	bytes  int64
}

func (r *responseRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 { // 1xx answers (100 Continue) come before the real one
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush and Unwrap keep streaming answers (SSE, ndjson) flushing through the recorder.
func (r *responseRecorder) Flush()                      { _ = http.NewResponseController(r.ResponseWriter).Flush() }
func (r *responseRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// statusCode is the status sent, or 200, which net/http sends for a handler that wrote nothing.
func (r *responseRecorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

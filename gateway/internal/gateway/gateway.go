// Package gateway is backtest-gateway: the REST/JSON bridge to backtestd's gRPC API
// (grpc-gateway v2, paths from protos/backtest/v1/backtest_http.yaml), live job events as
// Server-Sent Events, the OpenAPI spec, /healthz and /readyz, the dashboard's static files, and
// around them request ids, access logs, Prometheus metrics, TLS and a draining shutdown.
package gateway

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	backtestv1 "backtestd/gateway/internal/gen/backtest/v1"
)

// Options configure the gateway. The zero value of every field but Backend has a usable default.
type Options struct {
	// Listen is the HTTP listen address (default 127.0.0.1:8080). Ignored when Listener is set.
	Listen string
	// Listener, when set, is used instead of listening on Listen (tests pass 127.0.0.1:0 ones).
	Listener net.Listener
	// Backend is the gRPC address of backtestd (default 127.0.0.1:50051).
	Backend string
	// StaticDir serves the dashboard from this directory instead of the files embedded at build
	// time (for working on the dashboard without rebuilding the binary).
	StaticDir string
	// Static, when set, serves the dashboard from this file system (takes precedence over StaticDir).
	Static fs.FS
	// Heartbeat is the interval of SSE comment lines that keep idle connections open (default 15s).
	Heartbeat time.Duration
	// SSECommitDelay is how long the events endpoint waits for the upstream stream to be accepted
	// or refused before it answers 200 anyway (default 2s); see serveEvents.
	SSECommitDelay time.Duration
	// MaxMessageBytes bounds one gRPC message from backtestd (default 1 GiB): a result of a
	// million bars is about 100 MB, far past gRPC's default of 4 MB.
	MaxMessageBytes int
	// Logger receives the gateway's own log lines and one access line per request (default
	// slog.Default()); NewLogger makes the text or JSON one of --log-format.
	Logger *slog.Logger

	// MetricsListen, when set, is an address of its own where Run serves /metrics (Prometheus
	// text format, no token). Empty: /metrics is not served (the metrics are still kept).
	// Ignored when MetricsListener is set.
	MetricsListen string
	// MetricsListener, when set, is used instead of listening on MetricsListen.
	MetricsListener net.Listener

	// TLSCert and TLSKey, both set, make Run serve HTTPS (on both listeners) with this
	// certificate chain and private key (PEM files).
	TLSCert, TLSKey string
	// BackendTLS dials backtestd with TLS, checking its certificate against BackendCA (a PEM
	// file of CA certificates) or, when that is empty, the system's roots.
	BackendTLS bool
	BackendCA  string
	// BackendCert and BackendKey, both set (and BackendTLS), are the client certificate and key
	// the gateway shows backtestd (mutual TLS).
	BackendCert, BackendKey string

	// ShutdownDelay is how long Run goes on serving after ctx is done, with /readyz answering
	// 503, before it closes its listener: time for load balancers that poll /readyz to stop
	// sending it requests (default 0).
	ShutdownDelay time.Duration
	// ShutdownGrace is how long requests in flight and open event streams get to finish once
	// the listener is closed (default DefaultShutdownGrace); then the streams are ended and
	// connections closed.
	ShutdownGrace time.Duration
}

func (o *Options) setDefaults() {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8080"
	}
	if o.Backend == "" {
		o.Backend = "127.0.0.1:50051"
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.SSECommitDelay <= 0 {
		o.SSECommitDelay = 2 * time.Second
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 1 << 30
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ShutdownDelay < 0 {
		o.ShutdownDelay = 0
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	}
}

// DefaultShutdownGrace is Options.ShutdownGrace when it is not set.
const DefaultShutdownGrace = 10 * time.Second

// DialOptions are the options Run dials backtestd with (transport credentials from BackendTLS,
// BackendCA, BackendCert and BackendKey; the message size bound); tests that make their own
// connection use them too. An error names the option that is wrong or the file that cannot be
// read.
func (o Options) DialOptions() ([]grpc.DialOption, error) {
	o.setDefaults()
	creds, err := o.backendCredentials()
	if err != nil {
		return nil, err
	}
	return []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(o.MaxMessageBytes)),
	}, nil
}

// gatewayHandler routes a request (inside Handler): it bounds what a request may bring, then
// routes it to grpc-gateway's mux, which holds the generated API routes and the hand-written ones
// below. Safe for concurrent use.
type gatewayHandler struct {
	opts        Options
	backendName string          // the backend's address, for messages
	done        <-chan struct{} // closed when the gateway stops: open event streams end
	mux         *runtime.ServeMux
	marshal     *jsonMarshaler
	backtest    backtestv1.BacktestServiceClient
	health      grpc_health_v1.HealthClient
	static      *staticFiles
	index       runtime.HandlerFunc // the dashboard's start page, served at "/"
	metrics     *metrics
	draining    atomic.Bool // set by Handler.Drain: /readyz answers 503
}

// NewHandler returns the gateway's HTTP handler, talking to backtestd over conn. Event streams
// opened through it end when ctx is done.
func NewHandler(ctx context.Context, conn *grpc.ClientConn, opts Options) (*Handler, error) {
	opts.setDefaults()
	marshal := newJSONMarshaler()
	mux := newServeMux(marshal)
	if err := registerServices(ctx, mux, conn); err != nil {
		return nil, err
	}
	static, err := newStaticFiles(opts)
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	g := &gatewayHandler{
		opts:        opts,
		backendName: conn.Target(),
		done:        ctx.Done(),
		mux:         mux,
		marshal:     marshal,
		backtest:    backtestv1.NewBacktestServiceClient(conn),
		health:      grpc_health_v1.NewHealthClient(conn),
		static:      static,
		index:       static.page("index.html"),
		metrics:     m,
	}
	if err := g.handlePaths(); err != nil {
		return nil, err
	}
	return &Handler{router: g, metrics: m, logger: opts.Logger}, nil
}

// newServeMux is grpc-gateway's mux with the gateway's JSON, its error answers, the response
// headers it passes on, and the request id sent upstream; every route it serves records its path
// pattern for the access log and the metrics.
func newServeMux(marshal *jsonMarshaler) *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshal),
		runtime.WithErrorHandler(handleError),
		runtime.WithStreamErrorHandler(handleStreamError),
		runtime.WithRoutingErrorHandler(handleRoutingError),
		// POST with a form body is not a GET in disguise here: the API speaks JSON only.
		runtime.WithDisablePathLengthFallback(),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithMetadata(requestIDMetadata),
		runtime.WithMiddlewares(recordRoute),
	)
}

// registerServices adds the generated REST routes of each gRPC service to mux.
func registerServices(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	register := []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		backtestv1.RegisterBacktestServiceHandler,
		backtestv1.RegisterPresetServiceHandler,
		backtestv1.RegisterTraceServiceHandler,
		backtestv1.RegisterStrategyServiceHandler,
		backtestv1.RegisterSweepServiceHandler,
	}
	for _, r := range register {
		if err := r(ctx, mux, conn); err != nil {
			return err
		}
	}
	return nil
}

// handlePaths adds the hand-written routes to the mux: events, health, the spec, the dashboard.
func (g *gatewayHandler) handlePaths() error {
	routes := []struct {
		method, path string
		h            runtime.HandlerFunc
	}{
		{http.MethodGet, "/api/jobs/{job_id}/events", g.serveEvents},
		{http.MethodGet, "/healthz", g.serveHealthz},
		{http.MethodGet, "/readyz", g.serveReadyz},
		{http.MethodGet, "/openapi.json", serveOpenAPI},
		{http.MethodGet, "/docs", g.static.page("docs.html")},
		{http.MethodGet, "/jobs/{job_id}", g.static.page("job.html")},
		{http.MethodGet, "/compare", g.static.page("compare.html")},
		{http.MethodGet, "/sweeps", g.static.page("sweep_form.html")},
		{http.MethodGet, "/sweeps/{sweep_id}", g.static.page("sweep.html")},
		{http.MethodGet, "/static/{path=**}", g.static.asset},
	}
	for _, rt := range routes {
		if err := g.mux.HandlePath(rt.method, rt.path, rt.h); err != nil {
			return fmt.Errorf("route %s %s: %w", rt.method, rt.path, err)
		}
	}
	return nil
}

// ServeHTTP makes the trailing slash optional, refuses requests that bring too much, and routes
// the rest.
func (g *gatewayHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = withoutTrailingSlash(r)
	if !admitted(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	g.route(w, r)
}

// admitted answers a request whose Authorization header or declared body is past its bound with
// an error, and returns false; true lets the request through.
func admitted(w http.ResponseWriter, r *http.Request) bool {
	// A token is about 50 bytes; a header far longer is no token and would only burden the
	// gRPC metadata sent upstream.
	if len(r.Header.Get("Authorization")) > maxAuthorizationBytes {
		errorf(w, codes.Unauthenticated, "malformed authorization header: longer than %d bytes",
			maxAuthorizationBytes)
		return false
	}
	// Bodies are refused past maxBodyBytes before they are read: grpc-gateway would buffer,
	// decode and forward any size (a 200 MB body cost the gateway 1.2 GB) only for backtestd
	// to refuse it. A chunked body is cut at the limit (its decoding fails: 400).
	if r.ContentLength > maxBodyBytes {
		// Drop what the client sends (a bounded amount, never kept) so that it reads the
		// answer rather than a reset connection; a client that asked "Expect: 100-continue"
		// sends nothing more.
		if r.Header.Get("Expect") == "" {
			_, _ = io.CopyN(io.Discard, r.Body, maxDrainBytes)
		}
		writeError(w, &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge,
			Err: status.Errorf(codes.ResourceExhausted,
				"request body too large: %d bytes, the limit is %d", r.ContentLength, maxBodyBytes)})
		return false
	}
	return true
}

// route serves "/" (the dashboard's start page, GET and HEAD only), HEAD of any GET route
// without its body, and everything else through the mux.
func (g *gatewayHandler) route(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			handleRoutingError(r.Context(), g.mux, g.marshal, w, r, http.StatusMethodNotAllowed)
			return
		}
		setRoute(r.Context(), "/")
		g.index(w, r, nil)
		return
	}
	if r.Method == http.MethodHead {
		r2 := *r
		r2.Method = http.MethodGet
		g.mux.ServeHTTP(headWriter{w}, &r2)
		return
	}
	g.mux.ServeHTTP(w, r)
}

// maxAuthorizationBytes bounds the Authorization header the gateway passes on.
const maxAuthorizationBytes = 1024

// maxBodyBytes bounds a request body: backtestd takes messages of 4 MB at most, and a real request
// (parameters, a preset) is a few KB of JSON.
const maxBodyBytes = 8 << 20

// maxDrainBytes is how much of a refused body the gateway reads and drops before it answers.
const maxDrainBytes = 64 << 20

// outgoingHeader forwards backtestd's response metadata as Grpc-Metadata-* headers, except the
// gRPC transport's own (content-type, grpc-accept-encoding, …), which mean nothing over HTTP.
func outgoingHeader(key string) (string, bool) {
	k := strings.ToLower(key)
	if k == "content-type" || strings.HasPrefix(k, "grpc-") {
		return "", false
	}
	return runtime.MetadataHeaderPrefix + key, true
}

// withoutTrailingSlash makes the trailing slash optional on every path: "/api/jobs/" is routed as
// "/api/jobs". Only one slash is removed, and "/" stays as it is.
func withoutTrailingSlash(r *http.Request) *http.Request {
	p := r.URL.Path
	if len(p) <= 1 || !strings.HasSuffix(p, "/") {
		return r
	}
	u := *r.URL
	u.Path = strings.TrimSuffix(p, "/")
	if u.RawPath != "" {
		u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	}
	r2 := *r
	r2.URL = &u
	return &r2
}

// headWriter drops the body of answers to HEAD requests.
type headWriter struct{ http.ResponseWriter }

func (h headWriter) Write(b []byte) (int, error) { return len(b), nil }
func (h headWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// staticDirFS opens dir for StaticDir, checking that it exists.
func staticDirFS(dir string) (fs.FS, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("static dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("static dir %s is not a directory", dir)
	}
	return os.DirFS(dir), nil
}

package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"backtestd/gateway/internal/fakebackend"
)

// logBuffer collects log output. Safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// accessLines are the access lines of a JSON log so far, decoded.
func (l *logBuffer) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, sc.Text())
		}
		if v["msg"] == "request" {
			lines = append(lines, v)
		}
	}
	return lines
}

// accessLine waits for the access line of the request with this id (it is written once the
// answer is complete, which the client may see a moment before).
func (l *logBuffer) accessLine(t *testing.T, id string) map[string]any {
	t.Helper()
	var line map[string]any
	waitFor(t, "the access line of "+id, func() bool {
		for _, v := range l.accessLines(t) {
			if v["request_id"] == id {
				line = v
				return true
			}
		}
		return false
	})
	return line
}

func startLoggedGateway(t *testing.T, format string) (*testGateway, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	logger, err := NewLogger(buf, format)
	if err != nil {
		t.Fatal(err)
	}
	return startGateway(t, startFake(t), Options{Logger: logger}), buf
}

// lastCall is the last call of method (e.g. "GetJob") the fake received.
func lastCall(t *testing.T, fake *fakebackend.Backend, method string) fakebackend.Call {
	t.Helper()
	calls := fake.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if strings.HasSuffix(calls[i].Method, "/"+method) {
			return calls[i]
		}
	}
	t.Fatalf("the fake received no %s call", method)
	return fakebackend.Call{}
}

var madeRequestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRequestID: a well-formed X-Request-Id is kept, anything else replaced by a new id; the id
// is in the answer and in the x-request-id metadata of the upstream call, once, on unary calls,
// both streams and errors alike.
func TestRequestID(t *testing.T) {
	g := newTestGateway(t)
	ids := []struct {
		name, sent string
		kept       bool
	}{
		{"none", "", false},
		{"well-formed", "req-1_a.b:c", true},
		{"longest kept", strings.Repeat("a", maxRequestIDBytes), true},
		{"too long", strings.Repeat("a", maxRequestIDBytes+1), false},
		{"a space", "two words", false},
		{"a quote", `x"y`, false},
		{"not ASCII", "idé", false},
		{"a newline", "a\nb", false},
	}
	routes := []struct{ method, path, body, rpc string }{
		{"GET", "/api/jobs/job-done", "", "GetJob"},
		{"POST", "/run/", `{"params": {"rr": 2}}`, "RunBacktest"},
		{"GET", "/api/jobs/nope/status", "", "GetJob"}, // a 404 from backtestd
		{"GET", "/api/jobs/job-done/log", "", "StreamJobLog"},
		{"GET", "/api/jobs/job-done/events", "", "StreamJobLog"},
	}
	for _, id := range ids {
		for _, rt := range routes {
			t.Run(id.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				req := g.request(rt.method, rt.path, rt.body, nil)
				if id.sent != "" {
					req.Header["X-Request-Id"] = []string{id.sent} // raw: "a\nb" is refused by Header.Set
				}
				// A client cannot add a second id through grpc-gateway's metadata prefix.
				req.Header.Set("Grpc-Metadata-X-Request-Id", "injected")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					if id.sent == "a\nb" {
						return // net/http will not send it either
					}
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				got := resp.Header.Get("X-Request-Id")
				if id.kept && got != id.sent {
					t.Errorf("answer's id %q, want the client's %q", got, id.sent)
				}
				if !id.kept && !madeRequestID.MatchString(got) {
					t.Errorf("answer's id %q, want a new one (32 hex digits)", got)
				}
				up := lastCall(t, g.fake, rt.rpc).Metadata.Get(requestIDKey)
				if len(up) != 1 || up[0] != got {
					t.Errorf("backtestd saw x-request-id %q, want [%q]", up, got)
				}
			})
		}
	}
	// Two requests without an id get two ids.
	a, b := g.do("GET", "/healthz", "", nil), g.do("GET", "/healthz", "", nil)
	if a.header.Get("X-Request-Id") == b.header.Get("X-Request-Id") {
		t.Errorf("two requests, one id %q", a.header.Get("X-Request-Id"))
	}
}

// TestAccessLogJSON: one JSON line per request with its id, method, route pattern, path,
// status, body bytes, duration and client address.
func TestAccessLogJSON(t *testing.T) {
	g, logs := startLoggedGateway(t, "json")
	cases := []struct {
		method, path, route string
		status              int
	}{
		{"GET", "/api/jobs/job-done/", "/api/jobs/{job_id}", 200},
		{"POST", "/run", "/run", 200},
		{"GET", "/api/jobs/job-done/events", "/api/jobs/{job_id}/events", 200},
		{"GET", "/api/jobs/job-done/log", "/api/jobs/{job_id}/log", 200},
		{"GET", "/static/style.css", "/static/{path=**}", 200},
		{"GET", "/", "/", 200},
		{"HEAD", "/", "/", 200},
		{"HEAD", "/api/jobs/job-done", "/api/jobs/{job_id}", 200},
		{"GET", "/api/jobs/nope", "/api/jobs/{job_id}", 404},
		{"GET", "/no/such/path", routeUnmatched, 404},
		{"PUT", "/api/params", routeUnmatched, 405},
	}
	for i, c := range cases {
		id := "access-" + itoa(i)
		body := ""
		if c.method == "POST" {
			body = `{"params": {}}`
		}
		a := g.do(c.method, c.path, body, http.Header{"X-Request-Id": {id}})
		if a.status != c.status {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, a.status, c.status)
		}
		line := logs.accessLine(t, id)
		want := map[string]any{"level": "INFO", "method": c.method, "route": c.route, "path": c.path,
			"status": float64(c.status), "bytes": float64(len(a.body))}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("%s %s: %s = %v, want %v", c.method, c.path, k, line[k], v)
			}
		}
		if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("%s %s: duration_ms %v", c.method, c.path, line["duration_ms"])
		}
		if r, _ := line["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
			t.Errorf("%s %s: remote %q", c.method, c.path, r)
		}
		if _, ok := line["time"]; !ok {
			t.Errorf("%s %s: no time", c.method, c.path)
		}
	}
	if n := len(logs.accessLines(t)); n != len(cases) {
		t.Errorf("%d access lines for %d requests", n, len(cases))
	}
}

// TestAccessLogText: the default format is slog's key=value text, the same fields.
func TestAccessLogText(t *testing.T) {
	g, logs := startLoggedGateway(t, "text")
	g.do("GET", "/api/jobs/job-done", "", http.Header{"X-Request-Id": {"text-1"}})
	want := []string{"msg=request", "request_id=text-1", "method=GET", "route=/api/jobs/{job_id}",
		"path=/api/jobs/job-done", "status=200", "bytes=", "duration_ms=", "remote=127.0.0.1:"}
	waitFor(t, "the access line", func() bool { return strings.Contains(logs.String(), "request_id=text-1") })
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "request_id=text-1") {
			line = l
		}
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("access line lacks %q: %s", w, line)
		}
	}
	if _, err := NewLogger(&logs.buf, "xml"); err == nil {
		t.Error("NewLogger accepted the format xml")
	}
}

// TestNoTokenInLogs sends tokens every way a client can (Authorization, good and bad, too long;
// the login link's ?token=; Referer and Cookie; metadata headers; streams; errors) and finds
// none of them in any log line, in either format.
func TestNoTokenInLogs(t *testing.T) {
	secrets := []string{"user-token", "staff-token", "wrong-secret-token", "query-secret-token",
		"referer-secret-token", "cookie-secret-token", "metadata-secret-token", "long-secret-token"}
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			g, logs := startLoggedGateway(t, format)
			staff := http.Header{"Authorization": {fakebackend.StaffToken}}
			requests := []struct {
				method, path string
				header       http.Header
			}{
				{"GET", "/api/jobs/job-done", nil},
				{"GET", "/api/jobs/job-done/events", staff},
				{"GET", "/api/jobs/job-done/log", nil},
				{"GET", "/api/params", http.Header{"Authorization": {"Token wrong-secret-token"}}},
				{"GET", "/api/params", http.Header{"Authorization": {"Token " + strings.Repeat("long-secret-token", 100)}}},
				{"GET", "/?token=query-secret-token", nil},
				{"GET", "/jobs/job-done?token=query-secret-token&x=1", nil},
				{"GET", "/api/jobs", http.Header{"Referer": {"http://127.0.0.1/?token=referer-secret-token"}}},
				{"GET", "/api/jobs", http.Header{"Cookie": {"token=cookie-secret-token"}}},
				{"GET", "/api/jobs", http.Header{"Grpc-Metadata-Authorization": {"Token metadata-secret-token"}}},
				{"GET", "/api/jobs/nope/events", nil},
				{"GET", "/no/such/path?token=query-secret-token", nil},
			}
			for i, r := range requests {
				id := "tokens-" + itoa(i)
				header := r.header.Clone()
				if header == nil {
					header = http.Header{}
				}
				header.Set("X-Request-Id", id)
				g.do(r.method, r.path, "", header)
				waitFor(t, "the access line of "+id, func() bool { return strings.Contains(logs.String(), id) })
			}
			for _, s := range secrets {
				if strings.Contains(logs.String(), s) {
					t.Errorf("a log line holds %q:\n%s", s, logs.String())
				}
			}
		})
	}
}

// scrape reads the gateway's metrics as Prometheus's text parser does.
func scrape(t *testing.T, h *Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metricValue is the value of the series of name with these labels (a histogram's count), or -1.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	fam := fams[name]
	if fam == nil {
		return -1
	}
	for _, m := range fam.GetMetric() {
		match := 0
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
				match++
			}
		}
		if match != len(labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// TestMetrics: requests by route pattern (never the raw path), method and code; durations;
// response bytes; requests in flight and SSE subscribers while a stream is open; the Go and
// process collectors.
func TestMetrics(t *testing.T) {
	g := newTestGateway(t)
	var jobBytes int
	for _, p := range []string{"/api/jobs/job-done", "/api/jobs/job-live/", "/api/jobs/job-big"} {
		jobBytes += len(g.do("GET", p, "", nil).body)
	}
	g.do("GET", "/api/jobs/nope", "", nil)
	g.do("POST", "/run", `{"params": {}}`, nil)
	g.do("GET", "/no/such/path", "", nil)
	g.do("BREW", "/api/params", "", nil)
	g.do("HEAD", "/", "", nil)

	counts := []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"route": "/api/jobs/{job_id}", "method": "GET", "code": "200"}, 3},
		{map[string]string{"route": "/api/jobs/{job_id}", "method": "GET", "code": "404"}, 1},
		{map[string]string{"route": "/run", "method": "POST", "code": "200"}, 1},
		{map[string]string{"route": routeUnmatched, "method": "GET", "code": "404"}, 1},
		{map[string]string{"route": routeUnmatched, "method": "OTHER", "code": "405"}, 1},
		{map[string]string{"route": "/", "method": "HEAD", "code": "200"}, 1},
	}
	waitFor(t, "the requests to be counted", func() bool {
		fams := scrape(t, g.handler)
		for _, c := range counts {
			if metricValue(fams, "backtest_gateway_http_requests_total", c.labels) != c.want {
				return false
			}
		}
		return true
	})
	fams := scrape(t, g.handler)
	jobGET := map[string]string{"route": "/api/jobs/{job_id}", "method": "GET"}
	if n := metricValue(fams, "backtest_gateway_http_request_duration_seconds", jobGET); n != 4 {
		t.Errorf("duration observations of GET /api/jobs/{job_id}: %v, want 4", n)
	}
	if got := metricValue(fams, "backtest_gateway_http_response_bytes_total", jobGET); got < float64(jobBytes) {
		t.Errorf("response bytes of GET /api/jobs/{job_id}: %v, want at least %d", got, jobBytes)
	}
	if got := metricValue(fams, "backtest_gateway_http_response_bytes_total", map[string]string{"route": "/", "method": "HEAD"}); got != 0 {
		t.Errorf("response bytes of HEAD /: %v, want 0", got)
	}
	// Bounded labels: no series names a job.
	for name, fam := range fams {
		for _, m := range fam.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), "job-") || strings.Contains(lp.GetValue(), "BREW") {
					t.Errorf("%s has label %s=%q", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	// An open event stream is one request in flight and one subscriber, until it closes.
	ctx, cancel := context.WithCancel(context.Background())
	r, closeStream := g.openEvents(ctx, "/api/jobs/job-live/events", nil)
	if _, err := r.nextEvent(); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, g.handler)
	if n := metricValue(fams, "backtest_gateway_sse_subscribers", nil); n != 1 {
		t.Errorf("sse subscribers with a stream open: %v", n)
	}
	if n := metricValue(fams, "backtest_gateway_http_requests_in_flight", nil); n < 1 {
		t.Errorf("requests in flight with a stream open: %v", n)
	}
	closeStream()
	cancel()
	waitFor(t, "the stream to be counted as closed", func() bool {
		fams := scrape(t, g.handler)
		return metricValue(fams, "backtest_gateway_sse_subscribers", nil) == 0 &&
			metricValue(fams, "backtest_gateway_http_requests_in_flight", nil) == 0 &&
			metricValue(fams, "backtest_gateway_http_requests_total",
				map[string]string{"route": "/api/jobs/{job_id}/events", "code": "200"}) == 1
	})
}

package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"backtestd/gateway/internal/fakebackend"
)

// runningGateway is Run in a goroutine, on 127.0.0.1 listeners with ephemeral ports (the
// gateway's and the metrics one).
type runningGateway struct {
	base, metrics string // https:// when the options have a certificate
	client        *http.Client
	cancel        context.CancelFunc
	done          chan error // what Run returned
	logs          *logBuffer // JSON lines
}

// startRun starts Run with opts (Listener, MetricsListener, Static and Logger filled in) and
// waits for /readyz to answer 200. client is the HTTP client for it (tlsClient trusts the test CA
// when opts serve HTTPS). Stopped at the end of the test.
func startRun(t *testing.T, opts Options, client *http.Client) *runningGateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	opts.Listener, opts.MetricsListener, opts.Static = ln, mln, testStatic
	if opts.Logger, err = NewLogger(logs, "json"); err != nil {
		t.Fatal(err)
	}
	scheme := "http://"
	if opts.TLSCert != "" {
		scheme = "https://"
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &runningGateway{base: scheme + ln.Addr().String(), metrics: scheme + mln.Addr().String() + "/metrics",
		client: client, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { g.done <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		g.wait(t)
	})
	waitFor(t, "/readyz to answer 200", func() bool { return g.status("/readyz") == 200 })
	return g
}

// status is the status of GET path, or 0 when there is no answer.
func (g *runningGateway) status(path string) int {
	resp, err := g.client.Get(g.base + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// wait waits for Run to return (with a deadline) and fails the test on an error.
func (g *runningGateway) wait(t *testing.T) {
	t.Helper()
	select {
	case err, ok := <-g.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(g.done)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

// openEvents opens the event stream of a job through the running gateway and reads up to its
// first event.
func (g *runningGateway) openEvents(t *testing.T, job string) (*sseReader, io.Closer) {
	t.Helper()
	req, _ := http.NewRequest("GET", g.base+"/api/jobs/"+job+"/events/", nil)
	req.Header.Set("Authorization", fakebackend.UserToken)
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := &sseReader{bufio.NewReader(resp.Body)}
	if ev, err := r.nextEvent(); err != nil || ev.id != "1" {
		t.Fatalf("first event %+v %v", ev, err)
	}
	return r, resp.Body
}

// listening says whether addr (host:port of a URL) takes connections.
func listening(base string) bool {
	addr := base[strings.Index(base, "://")+3:]
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestRunDrains stops Run the way SIGTERM does (ctx done) with an event stream open: /readyz
// answers 503 at once while /healthz stays 200; after ShutdownDelay the listener closes; the open
// stream goes on, gets the job's last events and its end; then Run returns.
func TestRunDrains(t *testing.T) {
	fake := startFake(t)
	g := startRun(t, Options{Backend: fake.Addr(), ShutdownDelay: 3 * time.Second, ShutdownGrace: time.Minute},
		&http.Client{Timeout: 5 * time.Second})
	r, body := g.openEvents(t, "job-live")
	defer body.Close()

	g.cancel()
	waitFor(t, "/readyz to answer 503", func() bool { return g.status("/readyz") == 503 })
	if s := g.status("/healthz"); s != 200 {
		t.Errorf("/healthz while draining: %d", s)
	}
	if s := g.status("/api/params"); s != 401 { // served as before (no token: 401 from backtestd)
		t.Errorf("the API during the delay: %d", s)
	}
	waitFor(t, "the listener to close", func() bool { return !listening(g.base) })

	fake.AppendLog("job-live", "after the listener closed")
	fake.Finish("job-live")
	var names []string
	sawLate := false
	for {
		ev, err := r.nextEvent()
		if err != nil {
			t.Fatalf("stream ended without `event: end` after %v: %v", names, err)
		}
		names = append(names, ev.event)
		sawLate = sawLate || strings.Contains(ev.data, "after the listener closed")
		if ev.event == "end" {
			break
		}
	}
	if got := strings.Join(names, ","); !sawLate || !strings.HasSuffix(got, "log,status,end") {
		t.Errorf("events after the stop: %s (the late log line seen: %v)", got, sawLate)
	}
	g.wait(t)
	if listening(g.metrics) {
		t.Error("the metrics listener is open after Run returned")
	}
	waitFor(t, "the upstream stream to end", func() bool { return fake.StreamsOpen() == 0 })
	if strings.Contains(g.logs.String(), "user-token") {
		t.Errorf("a log line holds the token:\n%s", g.logs.String())
	}
}

// TestRunGraceEnds: a stream still open when ShutdownGrace is over is ended, upstream too, and
// Run returns cleanly.
func TestRunGraceEnds(t *testing.T) {
	fake := startFake(t)
	g := startRun(t, Options{Backend: fake.Addr(), ShutdownGrace: 50 * time.Millisecond}, &http.Client{})
	r, body := g.openEvents(t, "job-live")
	defer body.Close()
	g.cancel()
	g.wait(t)
	for {
		if _, err := r.next(); err != nil {
			break // the stream was ended
		}
	}
	waitFor(t, "the upstream stream to end", func() bool { return fake.StreamsOpen() == 0 })
}

// TestRunServesMetrics: /metrics on the metrics listener, in the text format, counting what the
// main listener served; the metrics listener serves nothing else, and the main one no /metrics.
func TestRunServesMetrics(t *testing.T) {
	fake := startFake(t)
	g := startRun(t, Options{Backend: fake.Addr()}, &http.Client{Timeout: 5 * time.Second})
	if s := g.status("/metrics"); s != 404 {
		t.Errorf("/metrics on the main listener: %d, want 404", s)
	}
	resp, err := g.client.Get(g.metrics)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`backtest_gateway_http_requests_total{code="200",method="GET",route="/readyz"}`,
		`backtest_gateway_http_requests_total{code="404",method="GET",route="unmatched"}`, "go_goroutines "} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	resp, err = g.client.Get(strings.TrimSuffix(g.metrics, "/metrics") + "/api/params")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("the API on the metrics listener: %d, want 404", resp.StatusCode)
	}
	// The serving line names both addresses (tests/e2e/lib.sh reads url= from it).
	for _, want := range []string{`"url":"` + g.base + `/"`, `"metrics":"` + g.metrics + `"`} {
		if !strings.Contains(g.logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, g.logs.String())
		}
	}
}

func TestRunBadListenAddress(t *testing.T) {
	for _, opts := range []Options{
		{Listen: "127.0.0.1:notaport"},
		{Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:notaport"},
	} {
		opts.Static = testStatic
		opts.Logger, _ = NewLogger(io.Discard, "text")
		if err := Run(context.Background(), opts); err == nil {
			t.Errorf("Run with %q, %q returned nil", opts.Listen, opts.MetricsListen)
		}
	}
}

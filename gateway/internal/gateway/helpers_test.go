package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/grpc"

	"backtestd/gateway/internal/fakebackend"
)

func nan() float64    { return math.NaN() }
func posInf() float64 { return math.Inf(1) }

// testStatic stands in for the bundled dashboard.
var testStatic = fstest.MapFS{
	"index.html":       {Data: []byte("<!doctype html><title>form page</title>")},
	"job.html":         {Data: []byte("<!doctype html><title>job page</title>")},
	"docs.html":        {Data: []byte("<!doctype html><title>API docs</title>")},
	"compare.html":     {Data: []byte("<!doctype html><title>compare page</title>")},
	"sweep_form.html":  {Data: []byte("<!doctype html><title>sweep form</title>")},
	"sweep.html":       {Data: []byte("<!doctype html><title>sweep page</title>")},
	"static/style.css": {Data: []byte("body { margin: 0 }")},
	"static/form.js":   {Data: []byte("console.log('form')")},
}

// testGateway is the gateway under test, served by httptest on 127.0.0.1, in front of a fake
// backend.
type testGateway struct {
	t       *testing.T
	fake    *fakebackend.Backend
	handler *Handler
	srv     *httptest.Server
	cancel  context.CancelFunc
	headers http.Header // sent with every request
}

func startGateway(t *testing.T, fake *fakebackend.Backend, opts Options) *testGateway {
	t.Helper()
	dial, err := opts.DialOptions()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(fake.Addr(), dial...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	if opts.Static == nil {
		opts.Static = testStatic
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := NewHandler(ctx, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return &testGateway{t: t, fake: fake, handler: h, srv: srv, cancel: cancel, headers: http.Header{"Authorization": {fakebackend.UserToken}}}
}

func newTestGateway(t *testing.T) *testGateway {
	return startGateway(t, startFake(t), Options{})
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body as a JSON object (numbers as json.Number).
func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(string(a.body)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, a.body)
	}
	return v
}

func (g *testGateway) request(method, path, body string, header http.Header) *http.Request {
	g.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	g.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, g.srv.URL+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	for k, v := range g.headers {
		req.Header[k] = v
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// do sends a request and reads the whole answer.
func (g *testGateway) do(method, path, body string, header http.Header) answer {
	g.t.Helper()
	resp, err := http.DefaultClient.Do(g.request(method, path, body, header))
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// sseEvent is one parsed Server-Sent Event (or comment, when comment is set).
type sseEvent struct {
	id, event, data, comment string
}

// sseReader parses a text/event-stream.
type sseReader struct{ r *bufio.Reader }

// next returns the next event or comment, or io.EOF at the end of the stream.
func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if seen {
				return ev, io.ErrUnexpectedEOF
			}
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !seen {
				continue
			}
			ev.data = strings.Join(data, "\n")
			return ev, nil
		}
		seen = true
		if strings.HasPrefix(line, ":") {
			ev.comment = strings.TrimSpace(line[1:])
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.id = value
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		}
	}
}

// nextEvent skips comments and retry lines.
func (s *sseReader) nextEvent() (sseEvent, error) {
	for {
		ev, err := s.next()
		if err != nil || ev.event != "" || ev.data != "" || ev.id != "" {
			return ev, err
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startFake(t *testing.T) *fakebackend.Backend {
	t.Helper()
	f, err := fakebackend.Start(fakebackend.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f
}

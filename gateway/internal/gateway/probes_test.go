package gateway

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/health/grpc_health_v1"
)

// TestHealthzIsLiveness: /healthz answers 200 whatever backtestd does, without a token.
func TestHealthzIsLiveness(t *testing.T) {
	g := newTestGateway(t)
	for _, step := range []struct {
		name string
		do   func()
	}{
		{"backend serving", func() {}},
		{"backend not serving", func() { g.fake.SetServing(false) }},
		{"gateway draining", func() { g.handler.Drain() }},
		{"backend down", func() { g.fake.Stop() }},
	} {
		step.do()
		for _, path := range []string{"/healthz", "/healthz/"} {
			a := g.do("GET", path, "", http.Header{"Authorization": nil})
			if a.status != 200 || strings.TrimSpace(string(a.body)) != `{"status":"ok"}` {
				t.Errorf("%s: GET %s: %d %s", step.name, path, a.status, a.body)
			}
		}
	}
}

// TestReadyz: /readyz is 200 only while backtestd reports each service SERVING and the gateway
// is not draining; a 503 says why.
func TestReadyz(t *testing.T) {
	g := newTestGateway(t)
	ready := func(t *testing.T, want int, wantStatus, wantInError string) {
		t.Helper()
		a := g.do("GET", "/readyz", "", http.Header{"Authorization": nil})
		if a.status != want {
			t.Fatalf("%d %s, want %d", a.status, a.body, want)
		}
		v := a.json(t)
		if v["status"] != wantStatus {
			t.Errorf("status %v, want %s", v["status"], wantStatus)
		}
		if msg, _ := v["error"].(string); !strings.Contains(msg, wantInError) {
			t.Errorf("error %q does not name %q", msg, wantInError)
		}
		if a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
		}
	}
	ready(t, 200, "ok", "")
	if a := g.do("GET", "/readyz/", "", nil); a.status != 200 {
		t.Errorf("GET /readyz/: %d", a.status)
	}
	// Each service counts: one not serving is enough to be unready.
	g.fake.SetServiceServing("backtest.v1.TraceService", false)
	ready(t, 503, "unavailable", "backtest.v1.TraceService is NOT_SERVING")
	g.fake.SetServiceServing("backtest.v1.TraceService", true)
	ready(t, 200, "ok", "")
	g.fake.SetServing(false)
	ready(t, 503, "unavailable", "backtest.v1.BacktestService is NOT_SERVING")
	g.fake.SetServing(true)
	ready(t, 200, "ok", "")

	// Each service is checked with backtestd's health service, with the request's id.
	g.do("GET", "/readyz", "", http.Header{"X-Request-Id": {"readyz-probe-7"}})
	checked := map[string]bool{}
	for _, c := range g.fake.Calls() {
		req, ok := c.Request.(*grpc_health_v1.HealthCheckRequest)
		if ok && strings.Join(c.Metadata.Get(requestIDKey), ",") == "readyz-probe-7" {
			checked[req.GetService()] = true
		}
	}
	if len(checked) != len(readyServices) {
		t.Errorf("services checked with the request's id: %v, want %v", checked, readyServices)
	}

	g.fake.Stop()
	ready(t, 503, "unavailable", g.fake.Addr())
}

// TestReadyzWhileDraining: once drained, /readyz is 503 "draining" while the backend is fine and
// the API is still served (requests in flight and late ones finish).
func TestReadyzWhileDraining(t *testing.T) {
	g := newTestGateway(t)
	g.handler.Drain()
	a := g.do("GET", "/readyz", "", nil)
	if a.status != 503 || a.json(t)["status"] != "draining" {
		t.Fatalf("readyz while draining: %d %s", a.status, a.body)
	}
	if a := g.do("GET", "/api/jobs/job-done", "", nil); a.status != 200 {
		t.Errorf("the API while draining: %d %s", a.status, a.body)
	}
}

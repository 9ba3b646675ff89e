package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"backtestd/gateway/internal/fakebackend"
)

// withSlash adds a trailing slash to the path of a path?query.
func withSlash(p string) string {
	path, query, hasQuery := strings.Cut(p, "?")
	if hasQuery {
		return path + "/?" + query
	}
	return path + "/"
}

// compactJSONLines is body with the insignificant white space taken out of each line that is
// JSON (or an SSE "data: " line with JSON): protojson adds a space after some commas, or not,
// depending on a hash of the running binary, so raw substrings of its output differ between
// builds.
func compactJSONLines(body []byte) string {
	lines := bytes.Split(body, []byte("\n"))
	for i, line := range lines {
		prefix, rest := []byte(nil), line
		if after, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			prefix, rest = []byte("data: "), after
		}
		var buf bytes.Buffer
		if json.Compact(&buf, rest) == nil {
			lines[i] = append(prefix, buf.Bytes()...)
		}
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// TestContractPaths walks every HTTP path of the contract (PRODUCT.md, "HTTP paths"), each with
// and without a trailing slash, against a fresh fake backend.
func TestContractPaths(t *testing.T) {
	type check func(t *testing.T, a answer)
	keys := func(want ...string) check {
		return func(t *testing.T, a answer) {
			t.Helper()
			v := a.json(t)
			for _, k := range want {
				if _, ok := v[k]; !ok {
					t.Errorf("answer lacks %q: %s", k, a.body)
				}
			}
		}
	}
	contains := func(want string) check {
		return func(t *testing.T, a answer) {
			t.Helper()
			if body := compactJSONLines(a.body); !strings.Contains(body, want) {
				t.Errorf("answer lacks %q: %.300s", want, body)
			}
		}
	}
	field := func(key, want string) check {
		return func(t *testing.T, a answer) {
			t.Helper()
			if got := a.json(t)[key]; got != want {
				t.Errorf("%s = %v, want %q", key, got, want)
			}
		}
	}
	jobKeys := keys("job_id", "status", "pid", "error", "stdout_tail", "stderr_tail", "result_url", "progress", "params", "created_at")
	cases := []struct {
		method, path, body string
		checks             []check
	}{
		{"GET", "/", "", []check{contains("form page")}},
		{"GET", "/jobs/job-done", "", []check{contains("job page")}},
		{"GET", "/docs", "", []check{contains("API docs")}},
		{"GET", "/compare", "", []check{contains("compare page")}},
		{"GET", "/compare?jobs=a,b", "", []check{contains("compare page")}},
		{"GET", "/sweeps", "", []check{contains("sweep form")}},
		{"GET", "/sweeps/sweep-1", "", []check{contains("sweep page")}},
		{"POST", "/run", `{"params": {"rr": 2.5, "SYMBOLS": "EURUSD"}, "preset": "default"}`,
			[]check{keys("job_id", "job", "job_url", "status_url"), contains(`"status":"queued"`)}},
		{"POST", "/api/jobs", `{"params": {"strategy": "sma_cross"}}`, []check{keys("job_id", "job", "job_url", "status_url")}},
		{"GET", "/api/jobs", "", []check{keys("jobs", "next_page_token"), contains(`"job_id":"job-live"`)}},
		{"GET", "/api/jobs?status=finished", "", []check{contains(`"job_id":"job-done"`)}},
		{"GET", "/api/jobs/job-done", "", []check{jobKeys, field("status", "finished")}},
		{"GET", "/api/jobs/job-done/status", "", []check{jobKeys, field("status", "finished"), field("result_url", "/api/jobs/job-done/result/")}},
		{"POST", "/api/jobs/job-live/cancel", "", []check{jobKeys, field("status", "cancelled")}},
		{"GET", "/api/jobs/job-done/log", "", []check{contains(`{"result":{"seq":1,`), contains(`"status":{"status":"finished"`)}},
		{"GET", "/api/jobs/job-done/events", "", []check{contains("id: 1\nevent: status\ndata: {"), contains("event: end\n")}},
		{"GET", "/api/jobs/job-done/result", "", []check{
			keys("candles", "ema", "zones", "markers", "trades", "stats", "equity", "total_candles"),
			contains(`"candles":[{"time":1795165200,"open":22.5,`)}},
		{"GET", "/api/jobs/job-done/result?max_candles=10", "", []check{contains(`"total_candles":100`)}},
		{"GET", "/api/params", "", []check{keys("params", "groups"), contains(`"name":"rr","alias":"RR"`)}},
		{"GET", "/api/presets", "", []check{keys("names"), contains(`"names":["default"]`)}},
		{"POST", "/api/presets", `{"name": "wide stops", "values": {"sl_buffer_atr": 0.5}}`,
			[]check{keys("name", "values", "updated_at"), field("name", "wide stops")}},
		{"GET", "/api/presets/default", "", []check{keys("name", "values", "updated_at"), field("name", "default")}},
		{"DELETE", "/api/presets/default", "", []check{func(t *testing.T, a answer) {
			if strings.TrimSpace(string(a.body)) != "{}" {
				t.Errorf("body %s, want {}", a.body)
			}
		}}},
		{"GET", "/api/bots/backtests/job-done/trace?bar_index=5&section=signal&limit=10&offset=0", "",
			[]check{keys("items", "count"), contains(`"count":1`), contains(`"bar_index":5`)}},
		{"GET", "/api/bots/backtest-runs/job-done/trace?bar_index=5", "", []check{keys("items", "count"), contains(`"count":2`)}},
		{"GET", "/api/bots/backtests/job-done/explain?bar_index=5&include=signal,filters", "",
			[]check{keys("summary", "values", "sections", "bar_index"), contains("breakout strength 0.12 ATR")}},
		{"GET", "/api/bots/backtest-runs/job-done/explain", "", []check{keys("summary", "reasons"), func(t *testing.T, a answer) {
			if _, ok := a.json(t)["bar_index"]; ok {
				t.Errorf("a whole-run explanation has a bar_index: %s", a.body)
			}
		}}},
		{"GET", "/openapi.json", "", []check{keys("swagger", "paths", "definitions")}},
		{"GET", "/healthz", "", []check{field("status", "ok")}},
	}
	for _, c := range cases {
		for _, path := range []string{c.path, withSlash(c.path)} {
			if c.path == "/" && path != "/" {
				continue
			}
			t.Run(c.method+" "+path, func(t *testing.T) {
				g := newTestGateway(t)
				a := g.do(c.method, path, c.body, nil)
				if a.status != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", a.status, a.body)
				}
				for _, ck := range c.checks {
					ck(t, a)
				}
			})
		}
	}
}

func TestPresetNameWithSpaces(t *testing.T) {
	g := newTestGateway(t)
	if a := g.do("POST", "/api/presets/", `{"name": "wide stops", "values": {}}`, nil); a.status != 200 {
		t.Fatalf("upsert: %d %s", a.status, a.body)
	}
	a := g.do("GET", "/api/presets/wide%20stops/", "", nil)
	if a.status != 200 || a.json(t)["name"] != "wide stops" {
		t.Fatalf("get: %d %s", a.status, a.body)
	}
	if a := g.do("DELETE", "/api/presets/wide%20stops", "", nil); a.status != 200 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	if a := g.do("GET", "/api/presets/wide%20stops", "", nil); a.status != 404 {
		t.Fatalf("get after delete: %d %s, want 404", a.status, a.body)
	}
}

// TestErrorMapping checks that gRPC codes become the documented HTTP statuses with a JSON body
// that names the problem.
func TestErrorMapping(t *testing.T) {
	cases := []struct {
		code       codes.Code
		httpStatus int
		name       string
	}{
		{codes.InvalidArgument, 400, "INVALID_ARGUMENT"},
		{codes.FailedPrecondition, 400, "FAILED_PRECONDITION"},
		{codes.OutOfRange, 400, "OUT_OF_RANGE"},
		{codes.Unauthenticated, 401, "UNAUTHENTICATED"},
		{codes.PermissionDenied, 403, "PERMISSION_DENIED"},
		{codes.NotFound, 404, "NOT_FOUND"},
		{codes.AlreadyExists, 409, "ALREADY_EXISTS"},
		{codes.ResourceExhausted, 429, "RESOURCE_EXHAUSTED"},
		{codes.Internal, 500, "INTERNAL"},
		{codes.Unimplemented, 501, "UNIMPLEMENTED"},
		{codes.Unavailable, 503, "UNAVAILABLE"},
		{codes.DeadlineExceeded, 504, "DEADLINE_EXCEEDED"},
	}
	g := newTestGateway(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := "the problem, named: " + c.name
			g.fake.InjectError("RunBacktest", status.Error(c.code, msg))
			a := g.do("POST", "/run/", `{"params": {}}`, nil)
			if a.status != c.httpStatus {
				t.Fatalf("status %d, want %d: %s", a.status, c.httpStatus, a.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			v := a.json(t)
			if v["error"] != msg || v["grpc_code"] != c.name || v["code"] != json.Number(itoa(c.httpStatus)) {
				t.Errorf("body %s", a.body)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestRealErrorsFromTheFake(t *testing.T) {
	g := newTestGateway(t)
	cases := []struct {
		name, method, path, body string
		header                   http.Header
		want                     int
		grpcCode, message        string
	}{
		{"no token", "GET", "/api/jobs/", "", http.Header{"Authorization": {""}}, 401, "UNAUTHENTICATED", "missing or unknown token"},
		{"wrong token", "GET", "/api/params", "", http.Header{"Authorization": {"Token nope"}}, 401, "UNAUTHENTICATED", "missing or unknown token"},
		{"unknown job", "GET", "/api/jobs/nope/status/", "", nil, 404, "NOT_FOUND", "job nope not found"},
		{"result before finish", "GET", "/api/jobs/job-live/result/", "", nil, 400, "FAILED_PRECONDITION", "ready once it has finished"},
		{"cancel a finished job", "POST", "/api/jobs/job-done/cancel/", "", nil, 400, "FAILED_PRECONDITION", "already ended"},
		{"bad parameter", "POST", "/run/", `{"params": {"rr": -1}}`, nil, 400, "INVALID_ARGUMENT", "parameter rr: must be > 0"},
		{"unknown parameter", "POST", "/run/", `{"params": {"bogus": 1}}`, nil, 400, "INVALID_ARGUMENT", `unknown parameter "bogus"`},
		{"unknown preset", "GET", "/api/presets/nope/", "", nil, 404, "NOT_FOUND", `preset "nope" not found`},
		{"trace limit", "GET", "/api/bots/backtests/job-done/trace?limit=5000", "", nil, 400, "INVALID_ARGUMENT", "limit"},
		// Malformed input never reaches the backend and is never a 500.
		{"malformed JSON", "POST", "/run/", `{"params": {`, nil, 400, "INVALID_ARGUMENT", ""},
		{"not an object", "POST", "/api/presets/", `[1, 2]`, nil, 400, "INVALID_ARGUMENT", ""},
		{"unknown field", "POST", "/run/", `{"parms": {}}`, nil, 400, "INVALID_ARGUMENT", "parms"},
		{"wrong type", "POST", "/api/presets/", `{"name": 5}`, nil, 400, "INVALID_ARGUMENT", ""},
		{"bad int query", "GET", "/api/bots/backtests/job-done/trace?bar_index=five", "", nil, 400, "INVALID_ARGUMENT", "bar_index"},
		{"bad bool query", "GET", "/api/jobs/job-done/log?include_trace=maybe", "", nil, 400, "INVALID_ARGUMENT", "include_trace"},
		{"bad int32 query", "GET", "/api/jobs?page_size=99999999999", "", nil, 400, "INVALID_ARGUMENT", "page_size"},
		{"bad max_candles", "GET", "/api/jobs/job-done/result?max_candles=1e3", "", nil, 400, "INVALID_ARGUMENT", "max_candles"},
		{"bad from_seq (SSE)", "GET", "/api/jobs/job-done/events?from_seq=-2", "", nil, 400, "INVALID_ARGUMENT", "from_seq"},
		{"bad Last-Event-ID", "GET", "/api/jobs/job-done/events", "", http.Header{"Last-Event-Id": {"abc"}}, 400, "INVALID_ARGUMENT", "Last-Event-ID"},
		{"unknown path", "GET", "/api/nope/", "", nil, 404, "NOT_FOUND", "no such path: /api/nope"},
		{"unknown static file", "GET", "/static/nope.js", "", nil, 404, "NOT_FOUND", "no such file"},
		{"static dir traversal", "GET", "/static/../index.html", "", nil, 404, "NOT_FOUND", ""},
		{"wrong method", "PUT", "/api/params/", `{}`, nil, 405, "UNIMPLEMENTED", "not allowed"},
		{"wrong method on the form", "POST", "/", `{}`, nil, 405, "UNIMPLEMENTED", "not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := g.do(c.method, c.path, c.body, c.header)
			if a.status != c.want {
				t.Fatalf("status %d, want %d: %s", a.status, c.want, a.body)
			}
			v := a.json(t)
			if v["grpc_code"] != c.grpcCode {
				t.Errorf("grpc_code %v, want %s", v["grpc_code"], c.grpcCode)
			}
			if msg, _ := v["error"].(string); msg == "" || !strings.Contains(msg, c.message) {
				t.Errorf("error %q does not name %q", msg, c.message)
			}
		})
	}
}

func TestUnauthenticatedHasChallenge(t *testing.T) {
	g := newTestGateway(t)
	a := g.do("GET", "/api/params/", "", http.Header{"Authorization": nil})
	if a.status != 401 || a.header.Get("WWW-Authenticate") != "Token" {
		t.Fatalf("status %d, WWW-Authenticate %q", a.status, a.header.Get("WWW-Authenticate"))
	}
}

// TestAuthorizationPassThrough checks that the Authorization header reaches backtestd as the
// authorization metadata, on unary calls and on both streams.
func TestAuthorizationPassThrough(t *testing.T) {
	g := newTestGateway(t)
	for _, path := range []string{"/api/params/", "/api/presets/", "/api/bots/backtests/job-done/explain", "/api/jobs/job-done/log", "/api/jobs/job-done/events"} {
		a := g.do("GET", path, "", http.Header{"Authorization": {fakebackend.StaffToken}})
		if a.status != 200 {
			t.Fatalf("%s: %d %s", path, a.status, a.body)
		}
		if got := g.fake.LastAuth(); got != fakebackend.StaffToken {
			t.Errorf("%s: backend saw authorization %q, want %q", path, got, fakebackend.StaffToken)
		}
	}
}

func TestOpenAPI(t *testing.T) {
	g := newTestGateway(t)
	a := g.do("GET", "/openapi.json", "", http.Header{"Authorization": nil})
	if a.status != 200 || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", a.status, a.header.Get("Content-Type"))
	}
	var spec struct {
		Swagger string `json:"swagger"`
		Info    struct {
			Title string `json:"title"`
		} `json:"info"`
		SecurityDefinitions map[string]map[string]any            `json:"securityDefinitions"`
		Security            []map[string]any                     `json:"security"`
		Paths               map[string]map[string]map[string]any `json:"paths"`
		Definitions         map[string]struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(a.body, &spec); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if spec.Swagger != "2.0" {
		t.Errorf("swagger %q", spec.Swagger)
	}
	want := map[string][]string{
		"/run":                                     {"post"},
		"/api/jobs":                                {"get", "post"},
		"/api/jobs/{job_id}":                       {"get"},
		"/api/jobs/{job_id}/status":                {"get"},
		"/api/jobs/{job_id}/result":                {"get"},
		"/api/compare":                             {"get"},
		"/api/jobs/{job_id}/cancel":                {"post"},
		"/api/jobs/{job_id}/log":                   {"get"},
		"/api/jobs/{job_id}/events":                {"get"},
		"/api/params":                              {"get"},
		"/api/presets":                             {"get", "post"},
		"/api/presets/{name}":                      {"get", "delete"},
		"/api/bots/backtests/{job_id}/trace":       {"get"},
		"/api/bots/backtests/{job_id}/explain":     {"get"},
		"/api/bots/backtest-runs/{job_id}/trace":   {"get"},
		"/api/bots/backtest-runs/{job_id}/explain": {"get"},
		"/healthz":                                 {"get"},
		"/readyz":                                  {"get"},
		"/openapi.json":                            {"get"},
	}
	for path, methods := range want {
		for _, m := range methods {
			if _, ok := spec.Paths[path][m]; !ok {
				t.Errorf("spec lacks %s %s", m, path)
			}
		}
	}
	// Times are JSON numbers (docs/api.md): doubles of whole seconds; counts are integers.
	for def, types := range map[string]map[string]string{
		"v1Candle": {"time": "number"}, "v1Trade": {"entry_time": "number", "id": "integer", "bars_held": "integer"},
		"v1StreamJobLogResponse": {"seq": "integer"}, "v1QueryTraceResponse": {"count": "integer"},
	} {
		for field, want := range types {
			if got := spec.Definitions[def].Properties[field]["type"]; got != want {
				t.Errorf("%s.%s type %v, want %s (a JSON number)", def, field, got, want)
			}
		}
	}
	if spec.Info.Title != "backtestd REST/JSON API" || spec.SecurityDefinitions["Token"]["in"] != "header" || len(spec.Security) != 1 {
		t.Errorf("info %+v, security %v %v: want the title and the Token scheme of backtest_openapi.yaml", spec.Info, spec.SecurityDefinitions, spec.Security)
	}
	if _, ok := spec.Definitions["v1Job"].Properties["stdout_tail"]; !ok {
		t.Errorf("field names are not snake_case: %v", spec.Definitions["v1Job"].Properties)
	}
	resp := spec.Paths["/api/params"]["get"]["responses"].(map[string]any)
	if ref := resp["default"].(map[string]any)["schema"].(map[string]any)["$ref"]; ref != "#/definitions/Error" {
		t.Errorf("default response %v, want the Error body", ref)
	}
	for _, op := range []map[string]any{spec.Paths["/run"]["post"], spec.Paths["/api/jobs/{job_id}/events"]["get"]} {
		tooMany, _ := op["responses"].(map[string]any)["429"].(map[string]any)
		if headers, _ := tooMany["headers"].(map[string]any); headers["Retry-After"] == nil {
			t.Errorf("%s: the 429 answer does not document Retry-After: %v", op["operationId"], tooMany)
		}
	}
}

func TestStaticFiles(t *testing.T) {
	g := newTestGateway(t)
	a := g.do("GET", "/static/style.css", "", nil)
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/css") || a.header.Get("ETag") == "" {
		t.Fatalf("%d %v", a.status, a.header)
	}
	a = g.do("GET", "/static/style.css", "", http.Header{"If-None-Match": {a.header.Get("ETag")}})
	if a.status != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", a.status)
	}
	a = g.do("HEAD", "/", "", nil)
	if a.status != 200 || len(a.body) != 0 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Errorf("HEAD /: %d %q %v", a.status, a.body, a.header)
	}
	a = g.do("GET", "/static/", "", nil)
	if a.status != 404 {
		t.Errorf("directory: %d, want 404", a.status)
	}
}

// TestStreamErrorsInNDJSON checks the generated ndjson stream's own error handling.
func TestStreamErrorsInNDJSON(t *testing.T) {
	g := newTestGateway(t)
	a := g.do("GET", "/api/jobs/nope/log", "", nil)
	if a.status != 404 {
		t.Fatalf("unknown job: %d %s", a.status, a.body)
	}
	resp, err := http.DefaultClient.Do(g.request("GET", "/api/jobs/job-done/log?from_seq=3&include_trace=true", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var seqs []string
	for sc.Scan() {
		var line struct {
			Result map[string]json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		seqs = append(seqs, string(line.Result["seq"]))
	}
	if got := strings.Join(seqs, ","); got != "3,4,5,6,7,8" {
		t.Errorf("seqs %s, want 3..8 (trace included)", got)
	}
}

func TestNoTransportHeadersLeak(t *testing.T) {
	g := newTestGateway(t)
	a := g.do("GET", "/api/params/", "", nil)
	for k := range a.header {
		if strings.HasPrefix(k, "Grpc-Metadata-Content-Type") || strings.HasPrefix(k, "Grpc-Metadata-Grpc-") {
			t.Errorf("transport header %s leaked", k)
		}
	}
}

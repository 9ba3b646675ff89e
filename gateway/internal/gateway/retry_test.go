package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// statusWith is a gRPC status error with the given details.
func statusWith(t *testing.T, c codes.Code, msg string, details ...protoadapt.MessageV1) error {
	t.Helper()
	st, err := status.New(c, msg).WithDetails(details...)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func retryInfo(d time.Duration) *errdetails.RetryInfo {
	return &errdetails.RetryInfo{RetryDelay: durationpb.New(d)}
}

// TestRetryAfter: RESOURCE_EXHAUSTED with a RetryInfo detail is a 429 with Retry-After in whole
// seconds, rounded up, and the error body of today (the detail in it); without RetryInfo it is a
// 429 without Retry-After. UNAVAILABLE with RetryInfo is a 503 with Retry-After; other codes never
// get one. The same on unary calls, the SSE stream and the ndjson stream before their first event.
func TestRetryAfter(t *testing.T) {
	g := newTestGateway(t)
	quota := &errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: "user:alice", Description: "10 submissions a minute"}}}
	cases := []struct {
		name       string
		err        error
		httpStatus int
		retryAfter string // "" = no header
	}{
		{"1.5 s", statusWith(t, codes.ResourceExhausted, "slow down", retryInfo(1500*time.Millisecond)), 429, "2"},
		{"3 s", statusWith(t, codes.ResourceExhausted, "slow down", retryInfo(3*time.Second)), 429, "3"},
		{"1 ms", statusWith(t, codes.ResourceExhausted, "slow down", retryInfo(time.Millisecond)), 429, "1"},
		{"0 s", statusWith(t, codes.ResourceExhausted, "slow down", retryInfo(0)), 429, "0"},
		{"an hour", statusWith(t, codes.ResourceExhausted, "daily quota", quota, retryInfo(time.Hour)), 429, "3600"},
		{"no RetryInfo", status.Error(codes.ResourceExhausted, "queue full"), 429, ""},
		{"another detail only", statusWith(t, codes.ResourceExhausted, "over quota", quota), 429, ""},
		{"a negative delay", statusWith(t, codes.ResourceExhausted, "slow down", retryInfo(-time.Second)), 429, ""},
		{"unavailable", statusWith(t, codes.Unavailable, "shutting down", retryInfo(4*time.Second)), 503, "4"},
		{"not a 429 or 503", statusWith(t, codes.InvalidArgument, "bad", retryInfo(time.Second)), 400, ""},
	}
	routes := []struct {
		method, path, body, rpc string
		ndjson                  bool
	}{
		{"POST", "/run/", `{"params": {}}`, "RunBacktest", false},
		{"GET", "/api/jobs/job-done/events", "", "StreamJobLog", false},
		{"GET", "/api/jobs/job-done/log", "", "StreamJobLog", true},
	}
	for _, c := range cases {
		for _, rt := range routes {
			t.Run(c.name+" "+rt.path, func(t *testing.T) {
				g.fake.InjectError(rt.rpc, c.err)
				defer g.fake.InjectError(rt.rpc, nil)
				a := g.do(rt.method, rt.path, rt.body, nil)
				if a.status != c.httpStatus {
					t.Fatalf("status %d, want %d: %s", a.status, c.httpStatus, a.body)
				}
				if got := a.header.Get("Retry-After"); got != c.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, c.retryAfter)
				}
				_, hasHeader := a.header["Retry-After"]
				if c.retryAfter == "" && hasHeader {
					t.Errorf("a Retry-After header (empty) is there")
				}
				v := a.json(t)
				st := status.Convert(c.err)
				if rt.ndjson { // grpc-gateway's stream error shape, as today
					e, _ := v["error"].(map[string]any)
					if e["message"] != st.Message() || e["code"] != json.Number(itoa(int(st.Code()))) {
						t.Errorf("body %s", a.body)
					}
				} else if v["error"] != st.Message() || v["grpc_code"] != grpcCodeName(st.Code()) || v["code"] != json.Number(itoa(c.httpStatus)) {
					t.Errorf("body %s", a.body)
				}
				if len(st.Details()) > 0 && !strings.Contains(string(a.body), "type.googleapis.com/google.rpc.") {
					t.Errorf("body lacks the details: %s", a.body)
				}
			})
		}
	}
	// The fake's error cleared, the same path answers again.
	if a := g.do("POST", "/run/", `{"params": {}}`, nil); a.status != 200 || a.header.Get("Retry-After") != "" {
		t.Errorf("after: %d %v", a.status, a.header)
	}
}

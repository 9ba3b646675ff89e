package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthCheckTimeout bounds one upstream health check.
const healthCheckTimeout = 3 * time.Second

// serveHealthz answers 200 {"status":"ok"} when backtestd's health service reports SERVING for
// the whole server (service ""), else 503 {"status":"unavailable","error":…}.
func (g *gatewayHandler) serveHealthz(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	ctx, cancel := context.WithTimeout(r.Context(), healthCheckTimeout)
	defer cancel()
	resp, err := g.health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: ""})
	type healthBody struct {
		Status string `json:"status"`
		Error  string `json:"error,omitempty"`
	}
	body := healthBody{Status: "ok"}
	code := http.StatusOK
	switch {
	case err != nil:
		code = http.StatusServiceUnavailable
		body = healthBody{"unavailable", "backend " + g.backendName + ": " + status.Convert(err).Message()}
	case resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING:
		code = http.StatusServiceUnavailable
		body = healthBody{"unavailable", "backend " + g.backendName + " reports " + resp.GetStatus().String()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	buf, _ := json.Marshal(body)
	_, _ = w.Write(append(buf, '\n'))
}

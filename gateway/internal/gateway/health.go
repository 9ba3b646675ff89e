package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	backtestv1 "backtestd/gateway/internal/gen/backtest/v1"
)

// healthCheckTimeout bounds the upstream health checks of one /readyz.
const healthCheckTimeout = 3 * time.Second

// readyServices are the services the gateway serves; /readyz wants backtestd's health service
// to report each of them SERVING.
var readyServices = []string{
	backtestv1.BacktestService_ServiceDesc.ServiceName,
	backtestv1.PresetService_ServiceDesc.ServiceName,
	backtestv1.TraceService_ServiceDesc.ServiceName,
	backtestv1.StrategyService_ServiceDesc.ServiceName,
	backtestv1.SweepService_ServiceDesc.ServiceName,
}

// healthBody is the JSON body of /healthz and /readyz.
type healthBody struct {
	Status string `json:"status"`          // ok, draining or unavailable
	Error  string `json:"error,omitempty"` // why not ok
}

// serveHealthz is liveness: 200 {"status":"ok"} whenever the gateway serves HTTP at all. It asks
// backtestd nothing, so a gateway is not restarted because backtestd is away or draining.
func (g *gatewayHandler) serveHealthz(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	writeHealth(w, http.StatusOK, healthBody{Status: "ok"})
}

// serveReadyz is readiness: 200 {"status":"ok"} when the gateway is not draining and
// backtestd's grpc.health.v1 reports SERVING for each of readyServices (an answer means the
// connection to it is up). Else 503 with status "draining" or "unavailable" and the reason.
func (g *gatewayHandler) serveReadyz(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	if g.draining.Load() {
		writeHealth(w, http.StatusServiceUnavailable, healthBody{"draining", "the gateway is shutting down"})
		return
	}
	if err := g.backendReady(r.Context()); err != nil {
		writeHealth(w, http.StatusServiceUnavailable, healthBody{"unavailable", "backend " + g.backendName + ": " + err.Error()})
		return
	}
	writeHealth(w, http.StatusOK, healthBody{Status: "ok"})
}

// backendReady checks each of readyServices with backtestd's health service; the first one not
// SERVING (or a failed call) is the error.
func (g *gatewayHandler) backendReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(withRequestIDOutgoing(ctx), healthCheckTimeout)
	defer cancel()
	for _, service := range readyServices {
		resp, err := g.health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: service})
		if err != nil {
			return fmt.Errorf("health check of %s: %s", service, status.Convert(err).Message())
		}
		if st := resp.GetStatus(); st != grpc_health_v1.HealthCheckResponse_SERVING {
			return fmt.Errorf("%s is %s", service, st)
		}
	}
	return nil
}

func writeHealth(w http.ResponseWriter, code int, body healthBody) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	buf, _ := json.Marshal(body)
	_, _ = w.Write(append(buf, '\n'))
}

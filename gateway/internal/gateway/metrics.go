package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routeUnmatched is the route label of a request no route served: an unknown path, a method the
// path does not take, or a request refused before routing (a body or header too large).
const routeUnmatched = "unmatched"

// metrics are the gateway's Prometheus metrics, in a registry of their own (one per Handler, so
// that gateways in one process, as in the tests, do not share counters), with the Go runtime and
// process collectors beside them. Labels are bounded: route is a path pattern of the API (or
// "/" or "unmatched"), method one of the standard methods or OTHER, code an HTTP status.
// Safe for concurrent use.
type metrics struct {
	registry       *prometheus.Registry
	requests       *prometheus.CounterVec   // route, method, code
	duration       *prometheus.HistogramVec // route, method
	responseBytes  *prometheus.CounterVec   // route, method
	inFlight       prometheus.Gauge
	sseSubscribers prometheus.Gauge
}

// durationBuckets reach past Prometheus's default 10 s: a result of a million bars takes
// seconds to send. An event stream lasts as long as its job and lands in the last bucket.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backtest_gateway_http_requests_total",
			Help: "HTTP requests answered, by route (path pattern), method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "backtest_gateway_http_request_duration_seconds",
			Help:    "Time from a request's arrival until its answer is complete (for an event stream: until it ends), by route and method.",
			Buckets: durationBuckets,
		}, []string{"route", "method"}),
		responseBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backtest_gateway_http_response_bytes_total",
			Help: "Bytes of answer bodies written, by route and method.",
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "backtest_gateway_http_requests_in_flight",
			Help: "HTTP requests being served now, open event streams included.",
		}),
		sseSubscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "backtest_gateway_sse_subscribers",
			Help: "Open Server-Sent Events streams (GET /api/jobs/{job_id}/events) following a job.",
		}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.responseBytes, m.inFlight, m.sseSubscribers,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts one answered request.
func (m *metrics) observe(route, method string, code int, bytes int64, d time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
	m.responseBytes.WithLabelValues(route, method).Add(float64(bytes))
}

// handler serves the registry in the Prometheus text format (or what the scraper negotiates).
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// methodLabel keeps the method label bounded: a client can send any token as a method.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "OTHER"
}

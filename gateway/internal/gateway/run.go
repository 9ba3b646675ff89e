package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
)

// streamEndWait is how long the event streams ended at the end of the grace period get to write
// their last bytes before the remaining connections are closed.
const streamEndWait = 2 * time.Second

// Run serves the gateway (and /metrics on MetricsListen, when set) until ctx is done, then drains:
//
//  1. /readyz answers 503 at once; everything else is served as before for ShutdownDelay;
//  2. the listener closes: no new connections, idle keep-alive ones close;
//  3. requests in flight and open event streams get ShutdownGrace to finish;
//  4. the event streams still open are ended (an EventSource reconnects, to another gateway,
//     with Last-Event-ID) and the remaining connections closed.
//
// Run returns nil after such a stop, or the error that kept it from serving.
func Run(ctx context.Context, opts Options) error {
	opts.setDefaults()
	tlsConfig, err := opts.serverTLSConfig()
	if err != nil {
		return err
	}
	dial, err := opts.DialOptions()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(opts.Backend, dial...)
	if err != nil {
		return fmt.Errorf("backend %s: %w", opts.Backend, err)
	}
	defer conn.Close()

	// Event streams outlive ctx: they go on through the grace period.
	streams, endStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer endStreams()
	handler, err := NewHandler(streams, conn, opts)
	if err != nil {
		return err
	}
	s, err := listen(handler, opts, tlsConfig)
	if err != nil {
		return err
	}
	opts.Logger.Info("backtest-gateway serving", s.addresses(tlsConfig, opts)...)

	select {
	case err := <-s.served:
		s.main.Close()
		if s.metrics != nil {
			s.metrics.Close()
		}
		return err
	case <-ctx.Done():
	}
	handler.Drain()
	opts.Logger.Info("backtest-gateway draining", "delay", opts.ShutdownDelay.String(), "grace", opts.ShutdownGrace.String())
	if opts.ShutdownDelay > 0 {
		delay := time.NewTimer(opts.ShutdownDelay)
		<-delay.C
	}
	err = s.shutdown(opts, endStreams)
	if err == nil {
		opts.Logger.Info("backtest-gateway stopped")
	}
	return err
}

// servers are Run's HTTP servers: the gateway's and, when asked for, the metrics one.
type servers struct {
	main, metrics     *http.Server
	mainLn, metricsLn net.Listener
	served            chan error // what each server's Serve returned
	serving           int        // how many servers send to served
}

// listen opens the listeners (Options.Listener or Listen; MetricsListener or MetricsListen)
// and starts serving on them.
func listen(handler *Handler, opts Options, tlsConfig *tls.Config) (*servers, error) {
	s := &servers{served: make(chan error, 2)}
	var err error
	if s.mainLn = opts.Listener; s.mainLn == nil {
		if s.mainLn, err = net.Listen("tcp", opts.Listen); err != nil {
			return nil, err
		}
	}
	if s.metricsLn = opts.MetricsListener; s.metricsLn == nil && opts.MetricsListen != "" {
		if s.metricsLn, err = net.Listen("tcp", opts.MetricsListen); err != nil {
			s.mainLn.Close()
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	s.main = newHTTPServer(handler, tlsConfig, opts.Logger)
	s.start(s.main, s.mainLn, tlsConfig)
	if s.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", handler.MetricsHandler())
		s.metrics = newHTTPServer(mux, tlsConfig, opts.Logger)
		s.start(s.metrics, s.metricsLn, tlsConfig)
	}
	return s, nil
}

func newHTTPServer(h http.Handler, tlsConfig *tls.Config, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig.Clone(), // each server adds its HTTP/2 settings to its own
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Every header is forwarded as gRPC metadata; backtestd accepts 64 KB of it.
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// No WriteTimeout: event streams stay open as long as their jobs run.
	}
}

func (s *servers) start(srv *http.Server, ln net.Listener, tlsConfig *tls.Config) {
	s.serving++
	go func() {
		if tlsConfig != nil {
			s.served <- srv.ServeTLS(ln, "", "")
		} else {
			s.served <- srv.Serve(ln)
		}
	}()
}

// addresses are the attributes of the "serving" log line: url (the dashboard), metrics (when
// served), backend.
func (s *servers) addresses(tlsConfig *tls.Config, opts Options) []any {
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	attrs := []any{"url", scheme + "://" + s.mainLn.Addr().String() + "/"}
	if s.metricsLn != nil {
		attrs = append(attrs, "metrics", scheme+"://"+s.metricsLn.Addr().String()+"/metrics")
	}
	return append(attrs, "backend", opts.Backend, "backend_tls", opts.BackendTLS)
}

// shutdown closes the main listener, waits up to ShutdownGrace for what is in flight, then ends
// the event streams still open and closes what is left; the metrics server goes last.
func (s *servers) shutdown(opts Options, endStreams context.CancelFunc) error {
	grace, cancel := context.WithTimeout(context.Background(), opts.ShutdownGrace)
	defer cancel()
	err := s.main.Shutdown(grace)
	if errors.Is(err, context.DeadlineExceeded) {
		opts.Logger.Warn("backtest-gateway: shutdown grace is over; ending the requests and event streams still open")
		endStreams()
		wait, cancelWait := context.WithTimeout(context.Background(), streamEndWait)
		defer cancelWait()
		if s.main.Shutdown(wait) != nil {
			s.main.Close()
		}
		err = nil
	}
	if s.metrics != nil {
		s.metrics.Close()
	}
	for range s.serving {
		if serveErr := <-s.served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
			err = serveErr
		}
	}
	return err
}

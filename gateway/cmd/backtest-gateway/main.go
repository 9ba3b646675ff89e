// Command backtest-gateway serves backtestd's REST/JSON bridge, live events, OpenAPI spec and
// dashboard over HTTP(S). It only parses flags; internal/gateway does the work.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"backtestd/gateway/internal/gateway"
)

func main() {
	var opts gateway.Options
	flag.StringVar(&opts.Listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	flag.StringVar(&opts.Backend, "backend", "127.0.0.1:50051", "gRPC address of backtestd")
	flag.StringVar(&opts.StaticDir, "static-dir", "", "serve the dashboard from this directory instead of the embedded files")
	flag.StringVar(&opts.MetricsListen, "metrics-listen", "", "serve /metrics (Prometheus, no token) on this address of its own; empty: not served")
	logFormat := flag.String("log-format", "text", "log lines, access lines included: text or json")
	flag.StringVar(&opts.TLSCert, "tls-cert", "", "serve HTTPS with this certificate chain (PEM file; with --tls-key)")
	flag.StringVar(&opts.TLSKey, "tls-key", "", "private key of --tls-cert (PEM file)")
	flag.BoolVar(&opts.BackendTLS, "backend-tls", false, "connect to backtestd with TLS")
	flag.StringVar(&opts.BackendCA, "backend-ca", "", "CA certificates (PEM file) that backtestd's certificate must chain to; default: the system's")
	flag.StringVar(&opts.BackendCert, "backend-cert", "", "client certificate (PEM file) shown to backtestd, for mutual TLS (with --backend-key)")
	flag.StringVar(&opts.BackendKey, "backend-key", "", "private key of --backend-cert (PEM file)")
	flag.DurationVar(&opts.ShutdownDelay, "shutdown-delay", 0, "on SIGTERM, keep serving this long with /readyz answering 503 before closing the listener")
	flag.DurationVar(&opts.ShutdownGrace, "shutdown-grace", gateway.DefaultShutdownGrace, "then let requests in flight and event streams finish for this long before ending them")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags]\n\nREST/JSON bridge, live events, OpenAPI and dashboard for backtestd.\n\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	logger, err := gateway.NewLogger(os.Stderr, *logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backtest-gateway: --log-format:", err)
		os.Exit(2)
	}
	opts.Logger = logger

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // after the first signal, a second one stops the process at once
		<-ctx.Done()
		stop()
	}()
	if err := gateway.Run(ctx, opts); err != nil {
		opts.Logger.Error("backtest-gateway", "err", err)
		os.Exit(1)
	}
}

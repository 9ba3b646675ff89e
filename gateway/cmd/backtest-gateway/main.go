// Command backtest-gateway serves backtestd's REST/JSON bridge, live events, OpenAPI spec and
// dashboard over HTTP. It only parses flags; internal/gateway does the work.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
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
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags]\n\nREST/JSON bridge, live events, OpenAPI and dashboard for backtestd.\n\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := gateway.Run(ctx, opts); err != nil {
		opts.Logger.Error("backtest-gateway", "err", err)
		os.Exit(1)
	}
}

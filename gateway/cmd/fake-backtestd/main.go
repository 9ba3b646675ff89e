// Command fake-backtestd serves internal/fakebackend, a stand-in for backtestd's gRPC API with
// canned data, so the gateway and the dashboard can be worked on and tried in a browser without
// the C++ server:
//
//	go run ./cmd/fake-backtestd --listen 127.0.0.1:50051 &
//	../build/bin/backtest-gateway --backend 127.0.0.1:50051
//
// Tokens: "user-token" and "staff-token". Jobs: job-done, job-live, job-big (1,000,000 bars), and
// every job submitted, which runs by itself for --run-time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"backtestd/gateway/internal/fakebackend"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:50051", "gRPC listen address")
	runTime := flag.Duration("run-time", 4*time.Second, "how long a submitted job runs")
	bars := flag.Int("bars", 2000, "bars of the results of job-done and of submitted jobs")
	flag.Parse()
	f, err := fakebackend.Start(fakebackend.Config{AutoRun: true, RunTime: *runTime, Bars: *bars, Listen: *listen})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake-backtestd:", err)
		os.Exit(1)
	}
	fmt.Printf("fake-backtestd serving on %s (tokens: user-token, staff-token)\n", f.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	f.Stop()
}

// Command fake-backtestd serves internal/fakebackend, a stand-in for backtestd's gRPC API with
// canned data, so the gateway and the dashboard can be worked on and tried in a browser without
// the C++ server:
//
//	go run ./cmd/fake-backtestd --listen 127.0.0.1:50051 &
//	../build/bin/backtest-gateway --backend 127.0.0.1:50051
//
// Tokens: "user-token" and "staff-token". Jobs: job-done, job-live, job-big (1,000,000 bars), and
// every job submitted, which runs by itself for --run-time. With --tls-cert and --tls-key it
// serves TLS (and with --tls-client-ca wants a client certificate), for trying the gateway's
// --backend-tls by hand.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	cert := flag.String("tls-cert", "", "serve TLS with this certificate (PEM; with --tls-key)")
	key := flag.String("tls-key", "", "private key of --tls-cert (PEM)")
	clientCA := flag.String("tls-client-ca", "", "require client certificates signed by these CAs (PEM)")
	flag.Parse()
	tlsConfig, err := serverTLS(*cert, *key, *clientCA)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake-backtestd:", err)
		os.Exit(2)
	}
	f, err := fakebackend.Start(fakebackend.Config{AutoRun: true, RunTime: *runTime, Bars: *bars, Listen: *listen, TLS: tlsConfig})
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

// serverTLS is the fake's TLS configuration, or nil without a certificate.
func serverTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" && clientCAFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		cfg.ClientCAs = x509.NewCertPool()
		if !cfg.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca: no PEM certificate in %s", clientCAFile)
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

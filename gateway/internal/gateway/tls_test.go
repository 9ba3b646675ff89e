package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"backtestd/gateway/internal/fakebackend"
)

// testPKI is what the TLS tests use, made by openssl at test time in a temp dir: a CA, a server
// certificate for 127.0.0.1 and localhost, a client certificate, both signed by the CA, and a
// second CA that signed nothing here.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey, otherCA string
}

func makePKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	openssl := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	newKey := []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"}
	makeCA := func(name string) {
		openssl(append(append([]string{"req", "-x509"}, newKey...), "-keyout", name+".key", "-out", name+".crt",
			"-days", "1", "-subj", "/CN=backtestd test "+name,
			"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")...)
	}
	makeCert := func(name, cn, ext string) {
		if err := os.WriteFile(filepath.Join(dir, name+".ext"), []byte(ext), 0o600); err != nil {
			t.Fatal(err)
		}
		openssl(append(append([]string{"req"}, newKey...), "-keyout", name+".key", "-out", name+".csr", "-subj", "/CN="+cn)...)
		openssl("x509", "-req", "-in", name+".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
			"-out", name+".crt", "-days", "1", "-extfile", name+".ext")
	}
	makeCA("ca")
	makeCA("other-ca")
	makeCert("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
	makeCert("client", "backtest-gateway", "extendedKeyUsage=clientAuth\n")
	p := func(name string) string { return filepath.Join(dir, name) }
	return testPKI{ca: p("ca.crt"), serverCert: p("server.crt"), serverKey: p("server.key"),
		clientCert: p("client.crt"), clientKey: p("client.key"), otherCA: p("other-ca.crt")}
}

func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", file)
	}
	return pool
}

func tlsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
}

// TestHTTPS: with a certificate the gateway serves HTTPS (HTTP/2 offered) on both listeners to
// clients that trust its CA, by IP address and by name; a client that does not trust the CA,
// and plain HTTP, get nothing from the API.
func TestHTTPS(t *testing.T) {
	pki := makePKI(t)
	fake := startFake(t)
	client := tlsClient(certPool(t, pki.ca))
	g := startRun(t, Options{Backend: fake.Addr(), TLSCert: pki.serverCert, TLSKey: pki.serverKey}, client)

	for _, base := range []string{g.base, strings.Replace(g.base, "127.0.0.1", "localhost", 1)} {
		req, _ := http.NewRequest("GET", base+"/api/jobs/job-done", nil)
		req.Header.Set("Authorization", fakebackend.UserToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS == nil || resp.ProtoMajor != 2 || !strings.Contains(string(body), `"job_id":"job-done"`) {
			t.Errorf("%s: %d %s TLS %v: %.200s", base, resp.StatusCode, resp.Proto, resp.TLS != nil, body)
		}
	}
	resp, err := client.Get(g.metrics)
	if err != nil {
		t.Fatalf("metrics over HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("metrics over HTTPS: %d", resp.StatusCode)
	}

	var unknownCA *tls.CertificateVerificationError
	if _, err := tlsClient(certPool(t, pki.otherCA)).Get(g.base + "/healthz"); !errors.As(err, &unknownCA) {
		t.Errorf("a client trusting another CA: %v, want a certificate verification error", err)
	}
	plain := strings.Replace(g.base, "https://", "http://", 1)
	if resp, err := http.Get(plain + "/api/jobs/job-done"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS listener: %d, want net/http's 400", resp.StatusCode)
		}
	}
}

// TestBackendTLS: the gateway talks to a TLS backend (the fake, requiring a client certificate
// from the test CA) with BackendTLS, BackendCA and the client certificate: the API, both
// streams and /readyz work. Without the client certificate, without the CA, with another CA, or
// in plaintext, backtestd is unreachable: /readyz and the API answer 503.
func TestBackendTLS(t *testing.T) {
	pki := makePKI(t)
	serverCert, err := tls.LoadX509KeyPair(pki.serverCert, pki.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := fakebackend.Start(fakebackend.Config{TLS: &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    certPool(t, pki.ca),
		MinVersion:   tls.VersionTLS12,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop)

	mutual := Options{BackendTLS: true, BackendCA: pki.ca, BackendCert: pki.clientCert, BackendKey: pki.clientKey}
	g := startGateway(t, fake, mutual)
	for _, path := range []string{"/readyz", "/api/jobs/job-done", "/api/jobs/job-done/log", "/api/jobs/job-done/events", "/api/params"} {
		if a := g.do("GET", path, "", nil); a.status != 200 {
			t.Errorf("%s over mutual TLS: %d %.300s", path, a.status, a.body)
		}
	}
	// Run dials the same way.
	run := startRun(t, Options{Backend: fake.Addr(), BackendTLS: true, BackendCA: pki.ca,
		BackendCert: pki.clientCert, BackendKey: pki.clientKey}, &http.Client{Timeout: 5 * time.Second})
	if s := run.status("/readyz"); s != 200 {
		t.Errorf("Run over mutual TLS: /readyz %d", s)
	}

	for name, opts := range map[string]Options{
		"no client certificate": {BackendTLS: true, BackendCA: pki.ca},
		"another CA":            {BackendTLS: true, BackendCA: pki.otherCA, BackendCert: pki.clientCert, BackendKey: pki.clientKey},
		"the system's roots":    {BackendTLS: true, BackendCert: pki.clientCert, BackendKey: pki.clientKey},
		"plaintext":             {},
	} {
		t.Run(name, func(t *testing.T) {
			g := startGateway(t, fake, opts)
			if a := g.do("GET", "/readyz", "", nil); a.status != 503 || a.json(t)["status"] != "unavailable" {
				t.Errorf("/readyz: %d %s", a.status, a.body)
			}
			if a := g.do("GET", "/api/jobs/job-done", "", nil); a.status != 503 || a.json(t)["grpc_code"] != "UNAVAILABLE" {
				t.Errorf("API: %d %s", a.status, a.body)
			}
		})
	}
}

// TestTLSOptionErrors: Run refuses options that cannot work, before it listens.
func TestTLSOptionErrors(t *testing.T) {
	pki := makePKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for name, opts := range map[string]Options{
		"cert without key":           {TLSCert: pki.serverCert},
		"key without cert":           {TLSKey: pki.serverKey},
		"missing cert":               {TLSCert: missing, TLSKey: pki.serverKey},
		"key of another cert":        {TLSCert: pki.serverCert, TLSKey: pki.clientKey},
		"backend CA without TLS":     {BackendCA: pki.ca},
		"client cert without TLS":    {BackendCert: pki.clientCert, BackendKey: pki.clientKey},
		"missing backend CA":         {BackendTLS: true, BackendCA: missing},
		"backend CA not PEM":         {BackendTLS: true, BackendCA: notPEM},
		"client cert without key":    {BackendTLS: true, BackendCert: pki.clientCert},
		"client key of another cert": {BackendTLS: true, BackendCert: pki.clientCert, BackendKey: pki.serverKey},
	} {
		opts.Listen, opts.Static = "127.0.0.1:0", testStatic
		opts.Logger, _ = NewLogger(io.Discard, "text")
		if err := Run(t.Context(), opts); err == nil {
			t.Errorf("%s: Run returned nil", name)
		}
	}
}

package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// serverTLSConfig is the TLS configuration of the gateway's HTTPS listeners (TLSCert, TLSKey),
// or nil when the gateway serves plain HTTP. The certificate is read once, at the start: a
// renewed one takes a restart.
func (o Options) serverTLSConfig() (*tls.Config, error) {
	if o.TLSCert == "" && o.TLSKey == "" {
		return nil, nil
	}
	if o.TLSCert == "" || o.TLSKey == "" {
		return nil, errors.New("tls: a certificate (--tls-cert) and its key (--tls-key) go together")
	}
	cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s, key %s: %w", o.TLSCert, o.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// backendCredentials are the transport credentials of the connection to backtestd: plaintext
// unless BackendTLS; with it, backtestd's certificate is checked against BackendCA (or the
// system's roots) and the name or IP address of Backend, and BackendCert/BackendKey, when set,
// are shown as the client certificate.
func (o Options) backendCredentials() (credentials.TransportCredentials, error) {
	if !o.BackendTLS {
		if o.BackendCA != "" || o.BackendCert != "" || o.BackendKey != "" {
			return nil, errors.New("backend tls: --backend-ca, --backend-cert and --backend-key need --backend-tls")
		}
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.BackendCA != "" {
		pem, err := os.ReadFile(o.BackendCA)
		if err != nil {
			return nil, fmt.Errorf("backend tls: CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("backend tls: CA file %s holds no PEM certificate", o.BackendCA)
		}
	}
	if o.BackendCert != "" || o.BackendKey != "" {
		if o.BackendCert == "" || o.BackendKey == "" {
			return nil, errors.New("backend tls: a client certificate (--backend-cert) and its key (--backend-key) go together")
		}
		cert, err := tls.LoadX509KeyPair(o.BackendCert, o.BackendKey)
		if err != nil {
			return nil, fmt.Errorf("backend tls: client certificate %s, key %s: %w", o.BackendCert, o.BackendKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(cfg), nil
}

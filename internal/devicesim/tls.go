package devicesim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// CA is a throw-away certificate authority with one server certificate valid for
// localhost, 127.0.0.1 and ::1. Clients trust it through CertPEM (the provider's
// ca_cert_pem); a client that does not gets a real certificate-verification error.
type CA struct {
	CertPEM   []byte
	serverTLS tls.Certificate
}

// NewCA creates a CA and a loopback server certificate signed by it.
func NewCA() (*CA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "devicesim test CA", Organization: []string{"infrabackup devicesim"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	return &CA{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		serverTLS: tls.Certificate{
			Certificate: [][]byte{leafDER, caDER},
			PrivateKey:  leafKey,
		},
	}, nil
}

var shared struct {
	once sync.Once
	ca   *CA
	err  error
}

// SharedCA returns one CA for the whole test binary, made on first use (a test that
// cannot have it fails). Tests start many simulated devices; one CA is cheaper than a
// CA each, and its CertPEM trusts them all.
func SharedCA(t testing.TB) *CA {
	t.Helper()
	shared.once.Do(func() { shared.ca, shared.err = NewCA() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.ca
}

// ClientTLSConfig is a client configuration that trusts this CA and nothing else.
func (ca *CA) ClientTLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// ServerTLSConfig is the TLS configuration simulated devices serve with.
func (ca *CA) ServerTLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.serverTLS}, MinVersion: tls.VersionTLS12}
}

// Listen opens a TLS listener on a free loopback port (addr "" means 127.0.0.1:0).
func (ca *CA) Listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devicesim: listen %s: %w", addr, err)
	}
	return tls.NewListener(l, ca.ServerTLSConfig()), nil
}

// ServerPEM returns the loopback server certificate (followed by the CA's) and its
// private key in PEM, for servers that read them from files, such as the S3 server
// of the tests.
func (ca *CA) ServerPEM() (certPEM, keyPEM []byte, err error) {
	for _, der := range ca.serverTLS.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.serverTLS.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

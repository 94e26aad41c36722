package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its
// key into dir and returns their paths.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "secopsd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSListenerLoadsPair(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	cfg, err := parse([]byte("tls:\n  cert_file: "+cert+"\n  key_file: "+key+"\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS.Enabled() {
		t.Fatal("tls not enabled")
	}
	if _, err := cfg.TLS.Load(); err != nil {
		t.Fatal(err)
	}
	// Key and certificate swapped: an error at key_file that quotes no
	// PEM content.
	keyPEM, _ := os.ReadFile(key)
	_, err = parse([]byte("tls:\n  cert_file: "+cert+"\n  key_file: "+cert+"\n"), "t.yml", testEnv)
	if err == nil {
		t.Fatal("a certificate as the key was accepted")
	}
	if !strings.Contains(err.Error(), "tls.key_file") || strings.Contains(err.Error(), string(keyPEM[30:60])) {
		t.Errorf("error = %v", err)
	}
}

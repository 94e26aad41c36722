package config

import (
	"crypto/tls"
	"strings"
)

// TLSListenerConfig makes the daemon serve HTTPS itself (API, web UI,
// metrics) with a certificate and key read from PEM files at start-up.
// Both files or neither: without them the daemon serves plain HTTP, which
// is fine on loopback or behind a TLS-terminating proxy.
type TLSListenerConfig struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the leaf certificate.
	KeyFile string `yaml:"key_file"`
}

// Enabled reports whether the daemon serves TLS.
func (t TLSListenerConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Load reads the certificate and key.
func (t TLSListenerConfig) Load() (tls.Certificate, error) {
	return tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
}

// validate checks that both files are named and form a key pair. The
// message never quotes the key file's content.
func (t *TLSListenerConfig) validate(ch *checker) {
	switch {
	case !t.Enabled():
		return
	case t.CertFile == "":
		ch.errorf("tls.cert_file", ErrMissing, "cert_file is required with key_file (a PEM certificate file)")
		return
	case t.KeyFile == "":
		ch.errorf("tls.key_file", ErrMissing, "key_file is required with cert_file (a PEM private key file)")
		return
	}
	if _, err := t.Load(); err != nil {
		msg := err.Error()
		path := "tls.cert_file"
		if strings.Contains(msg, t.KeyFile) || strings.Contains(msg, "private key") {
			path = "tls.key_file"
		}
		ch.errorf(path, ErrInvalid, "cannot load the TLS certificate and key: %s", oneLineMsg(msg))
	}
}

// oneLineMsg keeps an error message on one line.
func oneLineMsg(s string) string { return strings.Join(strings.Fields(s), " ") }

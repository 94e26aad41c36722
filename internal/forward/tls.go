package forward

import (
	"crypto/x509"
	"fmt"
	"os"
)

// LoadCertPool reads a PEM bundle of CA certificates into a pool, for
// WebhookOptions.RootCAs and SyslogOptions.TLSConfig.
func LoadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", path)
	}
	return pool, nil
}

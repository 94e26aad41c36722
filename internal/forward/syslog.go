package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/secopsd/secopsd/internal/store"
)

// Networks of a syslog output.
const (
	// NetworkTLS is RFC 5425: syslog over TLS, octet-counting framing.
	NetworkTLS = "tls"
	// NetworkTCP is RFC 6587: syslog over plain TCP, octet-counting
	// framing.
	NetworkTCP = "tcp"
)

// DefaultSyslogTimeout bounds connecting and writing one batch when
// SyslogOptions.Timeout is 0.
const DefaultSyslogTimeout = 10 * time.Second

// probeWait is how long a reused connection is read to learn whether the
// receiver closed it.
const probeWait = time.Millisecond

// SyslogOptions configure a Syslog output.
type SyslogOptions struct {
	// Network is NetworkTLS or NetworkTCP.
	Network string
	// Address is the receiver's host:port.
	Address string
	// TLSConfig configures NetworkTLS; nil means the system's CAs. An
	// empty ServerName is set to the host of Address; the minimum
	// version is TLS 1.2.
	TLSConfig *tls.Config
	// Facility is the RFC 5424 facility code, 0 (kern) to 23 (local7).
	Facility int
	// Hostname is the HOSTNAME field; empty means the machine's name.
	Hostname string
	// AppName is the APP-NAME field; empty means "secopsd".
	AppName string
	// Timeout bounds connecting (TLS handshake included) and writing one
	// batch; 0 means DefaultSyslogTimeout.
	Timeout time.Duration
}

// Syslog is an Output that writes each event as an RFC 5424 message
// (appendMessage) with octet-counting framing over one long-lived TCP or
// TLS connection, reconnecting after a failure.
//
// Syslog has no acknowledgements: a batch counts as accepted once written
// to the connection. Before each batch a reused connection is checked for
// having been closed by the receiver, and a failed write is sent again on
// a new connection, but a batch written just before the receiver crashed
// may be lost with it. Use the webhook output where every event must be
// confirmed.
type Syslog struct {
	network, address string
	tlsConfig        *tls.Config
	timeout          time.Duration
	head             header

	conn     net.Conn
	msg, out []byte
}

var _ Output = (*Syslog)(nil)

// NewSyslog checks opts and returns a syslog output. It connects on the
// first Send.
func NewSyslog(opts SyslogOptions) (*Syslog, error) {
	if opts.Network != NetworkTLS && opts.Network != NetworkTCP {
		return nil, fmt.Errorf("syslog: network must be %s or %s, got %q", NetworkTLS, NetworkTCP, opts.Network)
	}
	host, _, err := net.SplitHostPort(opts.Address)
	if err != nil || host == "" {
		return nil, fmt.Errorf("syslog: address %q is not host:port", opts.Address)
	}
	if opts.Facility < 0 || opts.Facility > 23 {
		return nil, fmt.Errorf("syslog: facility %d is not between 0 and 23", opts.Facility)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultSyslogTimeout
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("syslog: timeout %s is negative", opts.Timeout)
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.AppName == "" {
		opts.AppName = "secopsd"
	}
	s := &Syslog{
		network: opts.Network,
		address: opts.Address,
		timeout: opts.Timeout,
		head: header{
			facility: opts.Facility,
			hostname: headerField(opts.Hostname, maxHostname),
			appName:  headerField(opts.AppName, maxAppName),
			procID:   headerField(strconv.Itoa(os.Getpid()), maxProcID),
		},
	}
	if opts.Network == NetworkTLS {
		cfg := &tls.Config{}
		if opts.TLSConfig != nil {
			cfg = opts.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
		s.tlsConfig = cfg
	}
	return s, nil
}

// Send writes batch, one framed message per event, and reports a failure
// to connect or to write as retryable.
func (s *Syslog) Send(ctx context.Context, batch []store.ReceivedEvent) error {
	out := s.out[:0]
	for i := range batch {
		msg, err := s.head.appendMessage(s.msg[:0], &batch[i])
		if err != nil {
			return &DeliveryError{Err: fmt.Errorf("syslog %s: %w", s.address, err)}
		}
		s.msg = msg
		out = appendFrame(out, msg)
	}
	s.out = out
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.connect(ctx)
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("syslog %s: connect: %w", s.address, err)}
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetWriteDeadline(deadline); err != nil {
		s.drop()
		return &DeliveryError{Err: fmt.Errorf("syslog %s: %w", s.address, err)}
	}
	// A cancelled ctx (the daemon stopping) interrupts the write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	_, err = conn.Write(out)
	if !stop() || err != nil {
		s.drop()
		if err == nil {
			err = ctx.Err()
		}
		return &DeliveryError{Err: fmt.Errorf("syslog %s: write %d messages: %w", s.address, len(batch), err)}
	}
	return nil
}

// connect returns the open connection if the receiver has not closed it,
// or a new one.
func (s *Syslog) connect(ctx context.Context) (net.Conn, error) {
	if s.conn != nil {
		if alive(s.conn) {
			return s.conn, nil
		}
		s.drop()
	}
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	var (
		conn net.Conn
		err  error
	)
	if s.network == NetworkTLS {
		conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig}).DialContext(ctx, "tcp", s.address)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.address)
	}
	if err != nil {
		return nil, err
	}
	s.conn = conn
	return conn, nil
}

// alive reports whether the receiver has not closed conn: a short read
// that times out means open; end of file or an error means closed. Data
// the receiver sent (syslog receivers send none) is discarded.
func alive(conn net.Conn) bool {
	if err := conn.SetReadDeadline(time.Now().Add(probeWait)); err != nil {
		return false
	}
	var b [256]byte
	_, err := conn.Read(b[:])
	if conn.SetReadDeadline(time.Time{}) != nil {
		return false
	}
	if err == nil {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// drop closes the connection; the next Send dials again.
func (s *Syslog) drop() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

package forward_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/forward"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// syslogReceiver is a real TCP (or TLS) listener on loopback that reads
// octet-counted frames and keeps the messages.
type syslogReceiver struct {
	t  *testing.T
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	msgs   [][]byte
	errs   []error
	conns  []net.Conn
	closed bool
	quiet  bool // failed handshakes are expected
}

// newSyslogReceiver listens on addr ("127.0.0.1:0" for any port), with
// TLS when cfg is not nil.
func newSyslogReceiver(t *testing.T, addr string, cfg *tls.Config) *syslogReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	r := &syslogReceiver{t: t, ln: ln}
	r.wg.Go(r.accept)
	t.Cleanup(r.close)
	return r
}

func (r *syslogReceiver) addr() string { return r.ln.Addr().String() }

func (r *syslogReceiver) accept() {
	for {
		conn, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			_ = conn.Close()
			return
		}
		r.conns = append(r.conns, conn)
		r.mu.Unlock()
		r.wg.Go(func() { r.read(conn) })
	}
}

func (r *syslogReceiver) read(conn net.Conn) {
	br := bufio.NewReader(conn)
	for {
		msg, err := forward.ReadFrame(br)
		if err != nil {
			r.mu.Lock()
			if !r.closed && !r.quiet && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				r.errs = append(r.errs, err)
			}
			r.mu.Unlock()
			return
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, msg)
		r.mu.Unlock()
	}
}

// close stops listening and closes every connection, as a crashed
// receiver would.
func (r *syslogReceiver) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	_ = r.ln.Close()
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		r.t.Errorf("syslog receiver: %v", err)
	}
}

// parsed returns the messages received so far, parsed strictly.
func (r *syslogReceiver) parsed(t *testing.T) []forward.ParsedSyslog {
	t.Helper()
	r.mu.Lock()
	msgs := slices.Clone(r.msgs)
	r.mu.Unlock()
	out := make([]forward.ParsedSyslog, len(msgs))
	for i, m := range msgs {
		p, err := forward.ParseSyslog(m)
		if err != nil {
			t.Fatalf("message %q is not RFC 5424: %v", m, err)
		}
		out[i] = p
	}
	return out
}

func (r *syslogReceiver) ids(t *testing.T) []string {
	var ids []string
	for _, m := range r.parsed(t) {
		id, _ := m.SD[0].Param("id")
		ids = append(ids, id)
	}
	return ids
}

// testPKI is a CA and a server certificate for 127.0.0.1 and syslog.test,
// generated for the test.
type testPKI struct {
	roots  *x509.CertPool
	server tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "secopsd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "syslog.test"},
		DNSNames: []string{"syslog.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{roots: pool, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

func (p testPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
}

func newSyslog(t *testing.T, opts forward.SyslogOptions) *forward.Syslog {
	t.Helper()
	s, err := forward.NewSyslog(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// trickyEvents are events of every severity whose fields need escaping.
func trickyEvents() []store.ReceivedEvent {
	sevs := []event.Severity{event.SeverityCritical, event.SeverityHigh, event.SeverityMedium, event.SeverityLow, event.SeverityInfo, event.SeverityUnknown}
	var out []store.ReceivedEvent
	for i, sev := range sevs {
		out = append(out, store.ReceivedEvent{
			Event: event.Event{
				ID:          "ev-" + strconv.Itoa(i),
				Time:        time.Date(2025, 6, 1, 11, 0, 0, 123456000+i*1000, time.UTC),
				Source:      "billing-api",
				Monitor:     "api-health",
				Kind:        "auth.failure",
				Outcome:     event.OutcomeFail,
				Fingerprint: "fp-" + strconv.Itoa(i),
				Title:       `quote " bracket ] backslash \ end` + ` Zürich 🙂`,
				Severity:    sev,
				Category:    "authentication",
				Attributes:  map[string]string{"user": `"]\`, "city": "Zürich"},
			},
			ReceivedAt: time.Date(2025, 6, 1, 11, 0, 1, 0, time.UTC),
		})
	}
	return out
}

// checkMessages checks the RFC 5424 fields of ms against the events sent.
func checkMessages(t *testing.T, ms []forward.ParsedSyslog, evs []store.ReceivedEvent, facility int, hostname, appName string) {
	t.Helper()
	if len(ms) != len(evs) {
		t.Fatalf("%d messages, want %d", len(ms), len(evs))
	}
	wantSev := map[event.Severity]int{event.SeverityCritical: 2, event.SeverityHigh: 3, event.SeverityMedium: 4,
		event.SeverityLow: 5, event.SeverityInfo: 6, event.SeverityUnknown: 5}
	for i, m := range ms {
		ev := evs[i]
		if want := facility*8 + wantSev[ev.Severity]; m.Pri != want {
			t.Errorf("%s: PRI %d, want %d", ev.ID, m.Pri, want)
		}
		if m.Version != "1" || m.Hostname != hostname || m.AppName != appName || m.ProcID != strconv.Itoa(os.Getpid()) || m.MsgID != ev.Kind {
			t.Errorf("%s: header %q %q %q %q %q", ev.ID, m.Version, m.Hostname, m.AppName, m.ProcID, m.MsgID)
		}
		ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
		if err != nil || !ts.Equal(ev.Time) || !strings.HasSuffix(m.Timestamp, "Z") || len(m.Timestamp) != len("2006-01-02T15:04:05.000000Z") {
			t.Errorf("%s: TIMESTAMP %q (%v), want %s in UTC with microseconds", ev.ID, m.Timestamp, err, ev.Time)
		}
		if len(m.SD) != 1 || m.SD[0].ID != "secopsd@32473" {
			t.Fatalf("%s: SD %+v", ev.ID, m.SD)
		}
		for name, want := range map[string]string{
			"id": ev.ID, "source": ev.Source, "monitor": ev.Monitor, "kind": ev.Kind, "outcome": string(ev.Outcome),
			"severity": ev.Severity.String(), "category": ev.Category, "fingerprint": ev.Fingerprint, "title": ev.Title,
			"open_incident": "false", "time": ev.Time.Format("2006-01-02T15:04:05.000000Z"),
			"received_at": ev.ReceivedAt.Format("2006-01-02T15:04:05.000000Z"),
		} {
			if got, ok := m.SD[0].Param(name); !ok || got != want {
				t.Errorf("%s: SD param %s = %q, %v; want %q", ev.ID, name, got, ok, want)
			}
		}
		for _, c := range m.Msg {
			if c > 126 {
				t.Fatalf("%s: MSG is not plain ASCII: %q", ev.ID, m.Msg)
			}
		}
		var back store.ReceivedEvent
		if err := json.Unmarshal(m.Msg, &back); err != nil || !reflect.DeepEqual(back, ev) {
			t.Errorf("%s: MSG %s decodes to %+v (%v), want %+v", ev.ID, m.Msg, back, err, ev)
		}
	}
}

func TestSyslogTCPSendsRFC5424Messages(t *testing.T) {
	rcv := newSyslogReceiver(t, "127.0.0.1:0", nil)
	out := newSyslog(t, forward.SyslogOptions{Network: forward.NetworkTCP, Address: rcv.addr(), Facility: 13,
		Hostname: "secopsd-1.example.com"})
	evs := trickyEvents()
	if err := out.Send(t.Context(), evs[:2]); err != nil {
		t.Fatal(err)
	}
	if err := out.Send(t.Context(), evs[2:]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "messages", func() bool { return len(rcv.parsed(t)) == len(evs) })
	checkMessages(t, rcv.parsed(t), evs, 13, "secopsd-1.example.com", "secopsd")
	rcv.mu.Lock()
	conns := len(rcv.conns)
	rcv.mu.Unlock()
	if conns != 1 {
		t.Errorf("%d connections for two batches, want one reused", conns)
	}
}

func TestSyslogTLSWithForwarder(t *testing.T) {
	pki := newTestPKI(t)
	rcv := newSyslogReceiver(t, "127.0.0.1:0", pki.serverConfig())
	s := openStore(t, storetest.SQLiteURL(t), nil)
	evs := trickyEvents()
	plain := make([]event.Event, len(evs))
	for i := range evs {
		plain[i] = evs[i].Event
	}
	if _, err := s.AppendEvents(t.Context(), plain); err != nil {
		t.Fatal(err)
	}
	out := newSyslog(t, forward.SyslogOptions{Network: forward.NetworkTLS, Address: rcv.addr(),
		TLSConfig: &tls.Config{RootCAs: pki.roots, ServerName: "syslog.test"}, Facility: 10, AppName: "secopsd-prod", Hostname: "h1"})
	startForwarder(t, forward.Options{Store: s, Output: out, Start: forward.StartOldest, BatchSize: 4})
	eventually(t, 10*time.Second, "messages over TLS", func() bool { return len(rcv.parsed(t)) == len(evs) })
	stored, err := s.TailEvents(t.Context(), store.EventCursor{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, rcv.parsed(t), stored, 10, "h1", "secopsd-prod")
}

func TestSyslogTLSRefusesAnUntrustedServer(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	rcv := newSyslogReceiver(t, "127.0.0.1:0", pki.serverConfig())
	old := pki.serverConfig()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	oldRcv := newSyslogReceiver(t, "127.0.0.1:0", old)
	for _, r := range []*syslogReceiver{rcv, oldRcv} {
		r.mu.Lock()
		r.quiet = true
		r.mu.Unlock()
	}
	for name, tc := range map[string]struct {
		addr string
		cfg  *tls.Config
	}{
		"unknown CA": {rcv.addr(), &tls.Config{RootCAs: other.roots, ServerName: "syslog.test"}},
		"wrong name": {rcv.addr(), &tls.Config{RootCAs: pki.roots, ServerName: "elsewhere.test"}},
		"system CAs": {rcv.addr(), nil},
		"TLS 1.1":    {oldRcv.addr(), &tls.Config{RootCAs: pki.roots, ServerName: "syslog.test", MinVersion: tls.VersionTLS10}},
	} {
		out := newSyslog(t, forward.SyslogOptions{Network: forward.NetworkTLS, Address: tc.addr, TLSConfig: tc.cfg, Timeout: 5 * time.Second})
		err := out.Send(t.Context(), trickyEvents()[:1])
		var de *forward.DeliveryError
		if !errors.As(err, &de) || de.Permanent {
			t.Errorf("%s: %v, want a retryable delivery error", name, err)
		}
	}
	if n := len(rcv.parsed(t)) + len(oldRcv.parsed(t)); n != 0 {
		t.Errorf("%d messages reached an untrusted server", n)
	}
	// The same server is accepted with the right trust.
	out := newSyslog(t, forward.SyslogOptions{Network: forward.NetworkTLS, Address: rcv.addr(),
		TLSConfig: &tls.Config{RootCAs: pki.roots, ServerName: "syslog.test"}})
	if err := out.Send(t.Context(), trickyEvents()[:1]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the message", func() bool { return len(rcv.parsed(t)) == 1 })
}

func TestSyslogReceiverDownThenUp(t *testing.T) {
	s := openStore(t, storetest.SQLiteURL(t), nil)
	rcv := newSyslogReceiver(t, "127.0.0.1:0", nil)
	addr := rcv.addr()
	first := appendEvents(t, s, 0, 7)
	var sl sleeps
	m, reg := newMetrics(t)
	startForwarder(t, forward.Options{Store: s, Start: forward.StartOldest, BatchSize: 5, Sleep: sl.Sleep, Metrics: m,
		Output: newSyslog(t, forward.SyslogOptions{Network: forward.NetworkTCP, Address: addr, Timeout: time.Second})})
	eventually(t, 10*time.Second, "first events", func() bool { return len(rcv.ids(t)) == 7 })

	rcv.close()
	second := appendEvents(t, s, 100, 8)
	eventually(t, 10*time.Second, "failed attempts while the receiver is down", func() bool {
		return metric(t, reg, "secopsd_forward_failures_total", map[string]string{"output": "siem", "reason": "retryable"}) >= 3
	})
	up := newSyslogReceiver(t, addr, nil)
	eventually(t, 10*time.Second, "events stored during the outage", func() bool { return len(up.ids(t)) >= 8 })
	got := up.ids(t)
	if !slices.Equal(got, second) {
		t.Errorf("after the outage %v, want %v (each event once, in order)", got, second)
	}
	if got := rcv.ids(t); !slices.Equal(got, first) {
		t.Errorf("before the outage %v, want %v", got, first)
	}
}

func TestSyslogRejectsBadOptions(t *testing.T) {
	for _, o := range []forward.SyslogOptions{
		{Network: "udp", Address: "127.0.0.1:514"},
		{Network: forward.NetworkTCP, Address: "no-port"},
		{Network: forward.NetworkTCP, Address: ":514"},
		{Network: forward.NetworkTCP, Address: "127.0.0.1:514", Facility: 24},
		{Network: forward.NetworkTCP, Address: "127.0.0.1:514", Timeout: -time.Second},
	} {
		if _, err := forward.NewSyslog(o); err == nil {
			t.Errorf("NewSyslog(%+v) accepted", o)
		}
	}
}

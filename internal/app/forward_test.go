package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/forward"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// siemSink is the team's SIEM as the daemon sees it: a webhook receiver
// and a syslog (TCP, octet counting) receiver on loopback, recording the
// ids of the events they got.
type siemSink struct {
	web *httptest.Server
	ln  net.Listener
	wg  sync.WaitGroup

	mu         sync.Mutex
	webhookIDs []string
	syslogIDs  []string
	auth       []string
	signed     int
}

var sdID = regexp.MustCompile(`\[secopsd@32473 id="([^"]*)"`)

func newSIEMSink(t *testing.T, secret []byte) *siemSink {
	s := &siemSink{}
	s.web = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := forward.VerifySignature(secret, r.Header.Get(forward.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.signed++
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		for line := range bytes.SplitSeq(bytes.TrimSpace(body), []byte("\n")) {
			var e store.ReceivedEvent
			if err := json.Unmarshal(line, &e); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.webhookIDs = append(s.webhookIDs, e.ID)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.web.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.readSyslog(conn) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *siemSink) readSyslog(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			return
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(br, msg); err != nil {
			return
		}
		if m := sdID.FindSubmatch(msg); m != nil {
			s.mu.Lock()
			s.syslogIDs = append(s.syslogIDs, string(m[1]))
			s.mu.Unlock()
		}
	}
}

func (s *siemSink) ids() (webhook, syslog []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.webhookIDs), slices.Clone(s.syslogIDs)
}

func forwardYAML(s *siemSink) string {
	return fmt.Sprintf(`forward:
  - name: siem-webhook
    type: webhook
    poll_interval: 100ms
    settle_delay: 0s
    filter:
      kinds: [auth.*]
    webhook:
      url: %s/ingest?token=query-secret-42
      headers:
        Authorization: Bearer header-secret-42
      signing_secret: signing-secret-42
  - name: siem-syslog
    type: syslog
    poll_interval: 100ms
    settle_delay: 0s
    filter:
      min_severity: info
      kinds: [auth.*]
    syslog:
      network: tcp
      address: %q
`, s.web.URL, s.ln.Addr().String())
}

// TestForwardingEndToEnd runs the daemon with a webhook and a syslog
// output: events pushed to the API reach both, signed, each once and in
// order, also across a restart of the daemon.
func TestForwardingEndToEnd(t *testing.T) {
	secret := []byte("signing-secret-42")
	sink := newSIEMSink(t, secret)
	storeURL := storetest.SQLiteURL(t)
	var logs syncLog

	post := func(a interface{ Addr() string }, token string, from, n int) []string {
		var lines, ids []string
		for i := from; i < from+n; i++ {
			lines = append(lines, appEvent("auth.failure", fmt.Sprintf(`, "id": "fwd-%d", "attributes": {"user": "u-%d"}`, i, i)))
			ids = append(ids, eventID("checkout", fmt.Sprintf("fwd-%d", i)))
		}
		// An event the outputs' filter passes over.
		lines = append(lines, appEvent("deploy.finished", fmt.Sprintf(`, "id": "deploy-%d"`, from)))
		if code, _ := call(t, "POST", "http://"+a.Addr()+"/api/v1/events", token, "application/x-ndjson", strings.Join(lines, "\n"), nil); code != http.StatusAccepted {
			t.Fatalf("POST events = %d", code)
		}
		return ids
	}
	arrived := func(want []string) func() bool {
		return func() bool {
			web, sys := sink.ids()
			return len(web) >= len(want) && len(sys) >= len(want)
		}
	}

	a := newIngestDaemon(t, storeURL, forwardYAML(sink), &logs)
	token := ingestKey(t, a, auth.RoleIngest)
	first := post(a, token, 0, 20)
	eventually(t, 20*time.Second, "forwarded events", arrived(first))
	var m string
	getMetrics := func() {
		resp, err := authGet(t, "http://"+a.Addr()+"/metrics", ingestKey(t, a, auth.RoleViewer))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m = string(b)
	}
	getMetrics()
	for _, want := range []string{`secopsd_forward_events_total{output="siem-webhook"} 20`, `secopsd_forward_events_total{output="siem-syslog"} 20`,
		`secopsd_forward_lag_seconds{output="siem-webhook"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	ctx := t.Context()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Restarted: the stored positions resume; nothing is sent twice.
	b := ingestDaemon(t, storeURL, forwardYAML(sink), &logs)
	second := post(b, token, 20, 5)
	all := append(slices.Clone(first), second...)
	eventually(t, 20*time.Second, "events after the restart", arrived(all))
	// In the order the store received them: one request shares a
	// received_at, ordered by id.
	stored, err := b.Store().TailEvents(ctx, store.EventCursor{}, store.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range stored {
		if e.Kind == "auth.failure" && e.Source == "checkout" {
			want = append(want, e.ID)
		}
	}
	slices.Sort(all)
	if sorted := slices.Sorted(slices.Values(want)); !slices.Equal(sorted, all) {
		t.Fatalf("stored %v, want the %d posted events", want, len(all))
	}
	web, sys := sink.ids()
	if !slices.Equal(web, want) || !slices.Equal(sys, want) {
		t.Errorf("webhook got %v\nsyslog got %v\nwant each of %v once, in order", web, sys, want)
	}
	sink.mu.Lock()
	for _, h := range sink.auth {
		if h != "Bearer header-secret-42" {
			t.Errorf("Authorization %q", h)
		}
	}
	sink.mu.Unlock()
	for _, s := range []string{"query-secret-42", "header-secret-42", "signing-secret-42"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log shows %s", s)
		}
	}
}

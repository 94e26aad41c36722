package forward_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/forward"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// request is one request a receiver got.
type request struct {
	header http.Header
	body   []byte
	status int
}

// receiver is a loopback webhook receiver whose answers the test scripts.
type receiver struct {
	srv *httptest.Server
	// answer returns the status (and headers, body) of the nth request,
	// counting from 1; nil accepts everything with 200.
	answer func(n int, r *http.Request) (int, http.Header, string)

	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request) (int, http.Header, string)) *receiver {
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.reqs) + 1
	rc.reqs = append(rc.reqs, request{header: r.Header.Clone(), body: body})
	rc.mu.Unlock()
	status, header, text := http.StatusOK, http.Header(nil), ""
	if rc.answer != nil {
		status, header, text = rc.answer(n, r)
	}
	rc.mu.Lock()
	rc.reqs[n-1].status = status
	rc.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

// accepted decodes the batches answered with 2xx and returns their
// events in the order received.
func (rc *receiver) accepted(t *testing.T) []store.ReceivedEvent {
	t.Helper()
	var out []store.ReceivedEvent
	for _, r := range rc.requests() {
		if r.status < 200 || r.status > 299 {
			continue
		}
		out = append(out, decodeNDJSON(t, r.body)...)
	}
	return out
}

func (rc *receiver) acceptedIDs(t *testing.T) []string {
	var ids []string
	for _, e := range rc.accepted(t) {
		ids = append(ids, e.ID)
	}
	return ids
}

func decodeNDJSON(t *testing.T, body []byte) []store.ReceivedEvent {
	t.Helper()
	var out []store.ReceivedEvent
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e store.ReceivedEvent
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %q is not a stored event: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		t.Errorf("NDJSON body does not end with a newline")
	}
	return out
}

// newWebhook returns a webhook output to rc.
func newWebhook(t *testing.T, url string, opts forward.WebhookOptions) *forward.Webhook {
	t.Helper()
	opts.URL = url
	w, err := forward.NewWebhook(opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookDeliversEveryEventAsNDJSON(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url, nil)
		ids := appendEvents(t, s, 0, 1234)
		rc := newReceiver(t, nil)
		m, reg := newMetrics(t)
		startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL+"/ingest", forward.WebhookOptions{UserAgent: "secopsd/test"}),
			Start: forward.StartOldest, Metrics: m})
		eventually(t, 20*time.Second, "1234 events delivered", func() bool { return len(rc.acceptedIDs(t)) >= len(ids) })

		if got := rc.acceptedIDs(t); !slices.Equal(got, ids) {
			t.Fatalf("delivered %d events, not each of the %d once in order (first %v)", len(got), len(ids), got[:min(5, len(got))])
		}
		stored, err := s.TailEvents(t.Context(), store.EventCursor{}, store.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		got := rc.accepted(t)
		for i := range stored {
			if !reflect.DeepEqual(got[i], stored[i]) {
				t.Fatalf("event %d arrived as\n%+v\nstored as\n%+v", i, got[i], stored[i])
			}
		}
		var sizes []int
		for _, r := range rc.requests() {
			evs := decodeNDJSON(t, r.body)
			sizes = append(sizes, len(evs))
			if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("Content-Type %q", ct)
			}
			if ua := r.header.Get("User-Agent"); ua != "secopsd/test" {
				t.Errorf("User-Agent %q", ua)
			}
			if key := r.header.Get("Idempotency-Key"); key != forward.BatchKey(evs) || len(key) != 32 {
				t.Errorf("Idempotency-Key %q, want the batch's key", key)
			}
			if r.header.Get(forward.SignatureHeader) != "" {
				t.Error("signed without a signing secret")
			}
		}
		if !slices.Equal(sizes, []int{500, 500, 234}) {
			t.Errorf("batch sizes %v, want [500 500 234]", sizes)
		}
		eventually(t, 5*time.Second, "metrics", func() bool {
			return metric(t, reg, "secopsd_forward_events_total", map[string]string{"output": "siem"}) == 1234 &&
				metric(t, reg, "secopsd_forward_lag_seconds", map[string]string{"output": "siem"}) == 0
		})

		// The tail goes on: later events follow.
		more := appendEvents(t, s, 5000, 3)
		eventually(t, 10*time.Second, "later events", func() bool { return len(rc.acceptedIDs(t)) == len(ids)+3 })
		if got := rc.acceptedIDs(t)[len(ids):]; !slices.Equal(got, more) {
			t.Errorf("later events %v, want %v", got, more)
		}
	})
}

func TestWebhookRetriesServerErrorsWithBackoff(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url, nil)
		ids := appendEvents(t, s, 0, 25)
		rc := newReceiver(t, func(n int, _ *http.Request) (int, http.Header, string) {
			if n <= 4 {
				return http.StatusInternalServerError, nil, "database is down"
			}
			return http.StatusAccepted, nil, ""
		})
		var sl sleeps
		m, reg := newMetrics(t)
		startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{}),
			Start: forward.StartOldest, BatchSize: 10, MinBackoff: 100 * time.Millisecond, MaxBackoff: 250 * time.Millisecond,
			Jitter: func() float64 { return 1 }, Sleep: sl.Sleep, Metrics: m})
		eventually(t, 10*time.Second, "delivery after the failures", func() bool { return len(rc.acceptedIDs(t)) == len(ids) })

		if got := rc.acceptedIDs(t); !slices.Equal(got, ids) {
			t.Fatalf("delivered %v, want each of %v once in order", got, ids)
		}
		reqs := rc.requests()
		for i := 1; i <= 4; i++ {
			if !bytes.Equal(reqs[i].body, reqs[0].body) {
				t.Errorf("attempt %d sent another batch than the first", i+1)
			}
		}
		if want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}; !slices.Equal(sl.all(), want) {
			t.Errorf("backoff %v, want %v", sl.all(), want)
		}
		if got := metric(t, reg, "secopsd_forward_failures_total", map[string]string{"output": "siem", "reason": "retryable"}); got != 4 {
			t.Errorf("retryable failures = %v, want 4", got)
		}
	})
}

func TestWebhookHonoursRetryAfter(t *testing.T) {
	clk := newClock()
	s := openStore(t, storetest.SQLiteURL(t), clk.Now)
	appendEvents(t, s, 0, 3)
	rc := newReceiver(t, func(n int, _ *http.Request) (int, http.Header, string) {
		switch n {
		case 1:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}, ""
		case 2:
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {clk.Now().Add(30 * time.Second).Format(http.TimeFormat)}}, ""
		case 3:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"86400"}}, ""
		case 4:
			// Shorter than the backoff: the backoff wins.
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"0"}}, ""
		}
		return http.StatusOK, nil, ""
	})
	var sl sleeps
	startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{Now: clk.Now}),
		Start: forward.StartOldest, Now: clk.Now, MinBackoff: time.Second, MaxBackoff: time.Minute,
		Jitter: func() float64 { return 1 }, Sleep: sl.Sleep})
	eventually(t, 10*time.Second, "delivery", func() bool { return len(rc.acceptedIDs(t)) == 3 })
	want := []time.Duration{7 * time.Second, 30 * time.Second, forward.MaxRetryAfter, 8 * time.Second}
	if !slices.Equal(sl.all(), want) {
		t.Errorf("waits %v, want %v", sl.all(), want)
	}
}

func TestWebhookPermanentRefusalIsRetriedAtMaxBackoff(t *testing.T) {
	s := openStore(t, storetest.SQLiteURL(t), nil)
	ids := appendEvents(t, s, 0, 4)
	rc := newReceiver(t, func(n int, _ *http.Request) (int, http.Header, string) {
		if n <= 2 {
			return http.StatusBadRequest, nil, "{\"error\":\n \"invalid field\tseverity\"}"
		}
		return http.StatusOK, nil, ""
	})
	var (
		sl   sleeps
		logs syncBuffer
	)
	m, reg := newMetrics(t)
	startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{}),
		Start: forward.StartOldest, MinBackoff: time.Second, MaxBackoff: 3 * time.Minute, Sleep: sl.Sleep,
		Metrics: m, Logger: logs.logger()})
	eventually(t, 10*time.Second, "delivery once the receiver accepts", func() bool { return len(rc.acceptedIDs(t)) == 4 })
	if got := rc.acceptedIDs(t); !slices.Equal(got, ids) {
		t.Errorf("delivered %v, want %v: a refused batch must not be skipped", got, ids)
	}
	if want := []time.Duration{3 * time.Minute, 3 * time.Minute}; !slices.Equal(sl.all(), want) {
		t.Errorf("waits %v, want %v", sl.all(), want)
	}
	if got := metric(t, reg, "secopsd_forward_failures_total", map[string]string{"output": "siem", "reason": "permanent"}); got != 2 {
		t.Errorf("permanent failures = %v, want 2", got)
	}
	eventually(t, 10*time.Second, "the recovery logged", func() bool { return strings.Contains(logs.String(), "forwarding recovered") })
	log := logs.String()
	if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "answered 400 Bad Request") ||
		!strings.Contains(log, `{\"error\": \"invalid field severity\"}`) {
		t.Errorf("log does not explain the refusal and the recovery:\n%s", log)
	}
}

func TestWebhookStatusClassification(t *testing.T) {
	var status atomic.Int32
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, string) { return int(status.Load()), nil, "" })
	w := newWebhook(t, rc.srv.URL, forward.WebhookOptions{})
	batch := []store.ReceivedEvent{{Event: testEvent(1, "auth.failure", event.SeverityLow)}}
	for _, tc := range []struct {
		status    int
		ok        bool
		permanent bool
	}{
		{200, true, false}, {202, true, false}, {204, true, false},
		{408, false, false}, {429, false, false}, {500, false, false}, {502, false, false}, {503, false, false}, {504, false, false},
		{400, false, true}, {401, false, true}, {403, false, true}, {404, false, true}, {410, false, true}, {413, false, true},
		{301, false, true}, {307, false, true},
	} {
		status.Store(int32(tc.status))
		err := w.Send(t.Context(), batch)
		if tc.ok {
			if err != nil {
				t.Errorf("%d: %v", tc.status, err)
			}
			continue
		}
		var de *forward.DeliveryError
		if !errors.As(err, &de) || de.Permanent != tc.permanent || !strings.Contains(err.Error(), strconv.Itoa(tc.status)) {
			t.Errorf("%d: err %v (%#v), want permanent=%v", tc.status, err, de, tc.permanent)
		}
	}
}

func TestWebhookNetworkErrorIsRetryable(t *testing.T) {
	rc := newReceiver(t, nil)
	url := rc.srv.URL
	rc.srv.Close()
	err := newWebhook(t, url, forward.WebhookOptions{Timeout: time.Second}).Send(t.Context(), []store.ReceivedEvent{{Event: testEvent(1, "k", event.SeverityLow)}})
	var de *forward.DeliveryError
	if !errors.As(err, &de) || de.Permanent {
		t.Fatalf("err = %v, want a retryable delivery error", err)
	}
}

func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, string) {
		return http.StatusTemporaryRedirect, http.Header{"Location": {other.URL + "/steal"}}, ""
	})
	w := newWebhook(t, rc.srv.URL, forward.WebhookOptions{Headers: map[string]string{"Authorization": "Bearer tok-123456"}})
	err := w.Send(t.Context(), []store.ReceivedEvent{{Event: testEvent(1, "k", event.SeverityLow)}})
	var de *forward.DeliveryError
	if !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Errorf("err = %v, want a permanent refusal naming the redirect", err)
	}
	if elsewhere.Load() != 0 {
		t.Error("the redirect was followed, with the credentials")
	}
}

func TestWebhookSignatureIsVerifiable(t *testing.T) {
	clk := newClock()
	secret := []byte("sign-secret-0123456789abcdef")
	s := openStore(t, storetest.SQLiteURL(t), clk.Now)
	appendEvents(t, s, 0, 5)
	rc := newReceiver(t, nil)
	startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{SigningSecret: string(secret), Now: clk.Now}),
		Start: forward.StartOldest, Now: clk.Now})
	eventually(t, 10*time.Second, "delivery", func() bool { return len(rc.acceptedIDs(t)) == 5 })
	r := rc.requests()[0]
	header := r.header.Get(forward.SignatureHeader)

	// Verify as a receiver would, without the package's helper.
	ts, mac, ok := strings.Cut(header, ",")
	if !ok || ts != "t="+strconv.FormatInt(clk.Now().Unix(), 10) || !strings.HasPrefix(mac, "v1=") {
		t.Fatalf("signature header %q, want t=%d,v1=…", header, clk.Now().Unix())
	}
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strings.TrimPrefix(ts, "t=") + "."))
	h.Write(r.body)
	if got := strings.TrimPrefix(mac, "v1="); got != hex.EncodeToString(h.Sum(nil)) {
		t.Errorf("v1=%s is not HMAC-SHA256 of t.body", got)
	}

	if err := forward.VerifySignature(secret, header, r.body, clk.Now().Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("VerifySignature: %v", err)
	}
	tampered := bytes.Replace(r.body, []byte(`"medium"`), []byte(`"info"`), 1)
	for name, tc := range map[string]struct {
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		"tampered body": {secret, header, tampered, clk.Now(), forward.ErrSignatureMismatch},
		"wrong secret":  {[]byte("other"), header, r.body, clk.Now(), forward.ErrSignatureMismatch},
		"replayed late": {secret, header, r.body, clk.Now().Add(6 * time.Minute), forward.ErrSignatureExpired},
		"from future":   {secret, header, r.body, clk.Now().Add(-6 * time.Minute), forward.ErrSignatureExpired},
		"no signature":  {secret, "t=1", r.body, clk.Now(), forward.ErrSignatureMalformed},
		"bad hex":       {secret, ts + ",v1=zz", r.body, clk.Now(), forward.ErrSignatureMalformed},
		"garbage":       {secret, "garbage", r.body, clk.Now(), forward.ErrSignatureMalformed},
	} {
		if err := forward.VerifySignature(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestWebhookResumesFromStoredPositionAfterRestart(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		s := openStore(t, url, nil)
		first := appendEvents(t, s, 0, 30)
		rc := newReceiver(t, nil)
		opts := func() forward.Options {
			return forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{}), Start: forward.StartOldest, BatchSize: 10}
		}
		f1 := startForwarder(t, opts())
		eventually(t, 10*time.Second, "first events", func() bool { return len(rc.acceptedIDs(t)) == 30 })
		stopForwarder(t, f1)
		requestsBefore := len(rc.requests())

		second := appendEvents(t, s, 100, 15)
		startForwarder(t, opts())
		eventually(t, 10*time.Second, "events stored during the restart", func() bool { return len(rc.acceptedIDs(t)) == 45 })
		if got := rc.acceptedIDs(t); !slices.Equal(got, append(slices.Clone(first), second...)) {
			t.Errorf("delivered %v: acknowledged batches were sent again or events lost", got)
		}
		for _, r := range rc.requests()[requestsBefore:] {
			for _, e := range decodeNDJSON(t, r.body) {
				if slices.Contains(first, e.ID) {
					t.Errorf("event %s was acknowledged before the restart but sent again", e.ID)
				}
			}
		}
		c, err := s.ForwardCursor(t.Context(), "siem", store.EventCursor{})
		if err != nil || c.ID != second[len(second)-1] {
			t.Errorf("stored position %+v, %v; want the last event %s", c, err, second[len(second)-1])
		}
	})
}

func TestWebhookStartNowKeepsItsFirstPosition(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		clk := newClock()
		s := openStore(t, url, clk.Now)
		appendEvents(t, s, 0, 5) // before the output existed: never sent
		clk.Advance(time.Second)
		rc := newReceiver(t, nil)
		opts := forward.Options{Store: s, Start: forward.StartNow, Now: clk.Now}

		// The first start stores "now" even before any event is sent.
		o1 := opts
		o1.Output = newWebhook(t, rc.srv.URL, forward.WebhookOptions{})
		f1, err := forward.New(withName(o1))
		if err != nil {
			t.Fatal(err)
		}
		f1.Start()
		stopForwarder(t, f1)

		clk.Advance(time.Minute)
		during := appendEvents(t, s, 10, 5) // while the daemon was down
		clk.Advance(time.Hour)
		o2 := opts
		o2.Output = newWebhook(t, rc.srv.URL, forward.WebhookOptions{})
		startForwarder(t, o2)
		eventually(t, 10*time.Second, "events stored while down", func() bool { return len(rc.acceptedIDs(t)) >= 5 })
		if got := rc.acceptedIDs(t); !slices.Equal(got, during) {
			t.Errorf("delivered %v, want only %v", got, during)
		}
	})
}

func withName(o forward.Options) forward.Options {
	o.Name = "siem"
	o.PollInterval = 5 * time.Millisecond
	return o
}

func TestWebhookFilter(t *testing.T) {
	s := openStore(t, storetest.SQLiteURL(t), nil)
	var (
		evs  []event.Event
		want []string
	)
	kinds := []string{"auth.failure", "auth.success", "monitor.result", "deploy", "authz.denied"}
	sevs := []event.Severity{event.SeverityUnknown, event.SeverityInfo, event.SeverityLow, event.SeverityMedium, event.SeverityHigh, event.SeverityCritical}
	for i := range 60 {
		e := testEvent(i, kinds[i%len(kinds)], sevs[i%len(sevs)])
		evs = append(evs, e)
		if e.Severity >= event.SeverityMedium && (strings.HasPrefix(e.Kind, "auth.") || e.Kind == "monitor.result") {
			want = append(want, e.ID)
		}
	}
	// A tail of events that all fail the filter: the position must pass
	// them without a request.
	for i := range 20 {
		evs = append(evs, testEvent(100+i, "deploy", event.SeverityCritical))
	}
	if _, err := s.AppendEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, nil)
	m, reg := newMetrics(t)
	f := startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{}), Start: forward.StartOldest,
		BatchSize: 20, Metrics: m, Filter: forward.Filter{MinSeverity: event.SeverityMedium, Kinds: []string{"auth.*", "monitor.result"}}})
	eventually(t, 10*time.Second, "the filter's events", func() bool {
		return metric(t, reg, "secopsd_forward_skipped_events_total", map[string]string{"output": "siem"}) == float64(len(evs)-len(want))
	})
	if got := rc.acceptedIDs(t); !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if n := len(rc.requests()); n != 3 {
		t.Errorf("%d requests, want 3 (the last batch holds no matching event)", n)
	}
	stopForwarder(t, f)
	c, err := s.ForwardCursor(t.Context(), "siem", store.EventCursor{})
	if err != nil || c.ID != evs[len(evs)-1].ID {
		t.Errorf("position %+v, %v; want past the filtered events", c, err)
	}
}

// countingStore counts TailEvents calls, to know that a forwarder has
// looked at the log.
type countingStore struct {
	store.Store
	tails atomic.Int64
}

func (c *countingStore) TailEvents(ctx context.Context, after store.EventCursor, limit int) ([]store.ReceivedEvent, error) {
	c.tails.Add(1)
	return c.Store.TailEvents(ctx, after, limit)
}

func TestForwarderHoldsBackUnsettledEvents(t *testing.T) {
	clk := newClock()
	s := &countingStore{Store: openStore(t, storetest.SQLiteURL(t), clk.Now)}
	early := appendEvents(t, s, 0, 3)
	clk.Advance(10 * time.Second)
	late := appendEvents(t, s, 10, 3) // received 10 s after the first
	rc := newReceiver(t, nil)
	m, reg := newMetrics(t)
	startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{}), Start: forward.StartOldest,
		Now: clk.Now, SettleDelay: 5 * time.Second, Metrics: m})
	eventually(t, 10*time.Second, "settled events", func() bool { return len(rc.acceptedIDs(t)) == 3 })
	clk.Advance(3 * time.Second) // late events 3 s old: not settled yet
	seen := s.tails.Load()
	eventually(t, 10*time.Second, "more polls", func() bool { return s.tails.Load() > seen+3 })
	if got := rc.acceptedIDs(t); !slices.Equal(got, early) {
		t.Fatalf("delivered %v before the late events settled; want %v", got, early)
	}
	// The late events are pending: the lag is their age.
	if lag := metric(t, reg, "secopsd_forward_lag_seconds", map[string]string{"output": "siem"}); lag != 3 {
		t.Errorf("lag = %v s, want 3 (the age of the pending events)", lag)
	}
	clk.Advance(2 * time.Second)
	eventually(t, 10*time.Second, "late events", func() bool { return len(rc.acceptedIDs(t)) == 6 })
	if got := rc.acceptedIDs(t)[3:]; !slices.Equal(got, late) {
		t.Errorf("late events %v, want %v", got, late)
	}
}

func TestForwarderLagGrowsDuringAnOutage(t *testing.T) {
	clk := newClock()
	s := openStore(t, storetest.SQLiteURL(t), clk.Now)
	appendEvents(t, s, 0, 2)
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, string) {
		if down.Load() {
			return http.StatusBadGateway, nil, ""
		}
		return http.StatusOK, nil, ""
	})
	var sl sleeps
	m, reg := newMetrics(t)
	startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{}), Start: forward.StartOldest,
		Now: clk.Now, Metrics: m, Sleep: sl.Sleep})
	lag := func() float64 {
		return metric(t, reg, "secopsd_forward_lag_seconds", map[string]string{"output": "siem"})
	}
	eventually(t, 10*time.Second, "a failed attempt", func() bool { return len(sl.all()) > 0 })
	clk.Advance(90 * time.Second)
	if got := lag(); got != 90 {
		t.Errorf("lag during the outage = %v s, want 90", got)
	}
	down.Store(false)
	eventually(t, 10*time.Second, "catching up", func() bool { return len(rc.acceptedIDs(t)) == 2 && lag() == 0 })
}

func TestStopCancelsTheBatchInFlight(t *testing.T) {
	s := openStore(t, storetest.SQLiteURL(t), nil)
	ids := appendEvents(t, s, 0, 3)
	release := make(chan struct{})
	var blocked atomic.Bool
	blocked.Store(true)
	rc := newReceiver(t, func(_ int, r *http.Request) (int, http.Header, string) {
		if blocked.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return http.StatusServiceUnavailable, nil, ""
		}
		return http.StatusOK, nil, ""
	})
	defer close(release)
	f, err := forward.New(withName(forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{Timeout: time.Minute}), Start: forward.StartOldest}))
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	eventually(t, 10*time.Second, "the request", func() bool { return len(rc.requests()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := f.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %s", d)
	}
	// The cancelled batch was not acknowledged: the next start sends it.
	blocked.Store(false)
	startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{}), Start: forward.StartOldest})
	eventually(t, 10*time.Second, "the batch again", func() bool { return len(rc.acceptedIDs(t)) == 3 })
	if got := rc.acceptedIDs(t); !slices.Equal(got, ids) {
		t.Errorf("delivered %v, want %v", got, ids)
	}
}

func TestWebhookNeverShowsSecrets(t *testing.T) {
	secrets := []string{"hdr-secret-1a2b3c", "key-secret-4d5e6f", "path-secret-7g8h", "query-secret-9i0j", "sign-secret-k1l2m3", "user:pass-secret-n4"}
	// The receiver echoes everything it got, as a careless one might.
	var n atomic.Int32
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := []int{http.StatusUnauthorized, http.StatusInternalServerError}[n.Add(1)%2]
		w.WriteHeader(status)
		fmt.Fprintf(w, "rejected %s %s auth=%s key=%s", r.Method, r.URL, r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
	})
	srv := httptest.NewServer(echo)
	t.Cleanup(srv.Close)
	target := strings.Replace(srv.URL, "http://", "http://user:pass-secret-n4@", 1) + "/hooks/path-secret-7g8h?token=query-secret-9i0j"
	opts := forward.WebhookOptions{
		Headers:       map[string]string{"Authorization": "Bearer hdr-secret-1a2b3c", "X-Api-Key": "key-secret-4d5e6f"},
		SigningSecret: "sign-secret-k1l2m3",
		Timeout:       time.Second,
	}
	s := openStore(t, storetest.SQLiteURL(t), nil)
	appendEvents(t, s, 0, 2)
	var (
		logs syncBuffer
		sl   sleeps
	)
	f := startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, target, opts), Start: forward.StartOldest,
		Sleep: sl.Sleep, Logger: logs.logger()})
	eventually(t, 10*time.Second, "failed attempts", func() bool { return len(sl.all()) >= 4 })
	srv.Close() // now network errors
	eventually(t, 10*time.Second, "network failures", func() bool {
		return strings.Contains(logs.String(), "connect") || strings.Contains(logs.String(), "refused")
	})
	stopForwarder(t, f)

	var errs []string
	w := newWebhook(t, target, opts)
	for range 2 {
		if err := w.Send(t.Context(), []store.ReceivedEvent{{Event: testEvent(1, "k", event.SeverityLow)}}); err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}
	_, err := forward.NewWebhook(forward.WebhookOptions{URL: "ftp://host/path-secret-7g8h?token=query-secret-9i0j"})
	errs = append(errs, err.Error())
	everything := logs.String() + strings.Join(errs, "\n") + fmt.Sprintf("%v %+v", w, w)
	for _, sec := range secrets {
		if strings.Contains(everything, sec) {
			t.Errorf("secret %q shows in logs or errors:\n%s", sec, everything)
		}
	}
	if !strings.Contains(logs.String(), "answered 401") || !strings.Contains(logs.String(), "127.0.0.1") {
		t.Errorf("logs do not say what failed:\n%s", logs.String())
	}
}

func TestWebhookRejectsBadOptions(t *testing.T) {
	for _, o := range []forward.WebhookOptions{
		{URL: "://nope"},
		{URL: "ftp://example.com/"},
		{URL: "http:///path-only"},
		{URL: "https://example.com", Timeout: -time.Second},
		{URL: "https://example.com", Headers: map[string]string{"Bad Name": "x"}},
		{URL: "https://example.com", Headers: map[string]string{"X-Ok": "a\r\nInjected: 1"}},
	} {
		if _, err := forward.NewWebhook(o); err == nil {
			t.Errorf("NewWebhook(%+v) accepted", o)
		}
	}
}

func TestForwarderOptionsValidation(t *testing.T) {
	s := openStore(t, storetest.SQLiteURL(t), nil)
	out := newWebhook(t, "http://127.0.0.1:1", forward.WebhookOptions{})
	for name, o := range map[string]forward.Options{
		"no name":         {Store: s, Output: out},
		"no store":        {Name: "x", Output: out},
		"no output":       {Name: "x", Store: s},
		"batch too large": {Name: "x", Store: s, Output: out, BatchSize: store.MaxLimit + 1},
		"backoff order":   {Name: "x", Store: s, Output: out, MinBackoff: time.Minute, MaxBackoff: time.Second},
		"negative settle": {Name: "x", Store: s, Output: out, SettleDelay: -time.Second},
		"unknown start":   {Name: "x", Store: s, Output: out, Start: forward.Start(7)},
	} {
		if _, err := forward.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	m, _ := newMetrics(t)
	if _, err := forward.New(forward.Options{Name: "dup", Store: s, Output: out, Metrics: m}); err != nil {
		t.Fatal(err)
	}
	if _, err := forward.New(forward.Options{Name: "dup", Store: s, Output: out, Metrics: m}); err == nil {
		t.Error("two forwarders of one name share the metrics")
	}
}

func TestFilterMatch(t *testing.T) {
	f := forward.Filter{MinSeverity: event.SeverityLow, Kinds: []string{"auth.*", "deploy"}}
	for _, tc := range []struct {
		kind string
		sev  event.Severity
		want bool
	}{
		{"auth.failure", event.SeverityLow, true},
		{"auth.", event.SeverityHigh, true},
		{"auth", event.SeverityHigh, false},
		{"authz.denied", event.SeverityHigh, false},
		{"deploy", event.SeverityCritical, true},
		{"deploy.started", event.SeverityCritical, false},
		{"auth.failure", event.SeverityInfo, false},
		{"auth.failure", event.SeverityUnknown, false},
	} {
		if got := f.Match(&event.Event{Kind: tc.kind, Severity: tc.sev}); got != tc.want {
			t.Errorf("Match(%s, %s) = %v, want %v", tc.kind, tc.sev, got, tc.want)
		}
	}
	if !(forward.Filter{}).Match(&event.Event{Kind: "anything"}) {
		t.Error("the empty filter refuses an unclassified event")
	}
}

package playbooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
)

// hookRequest is what a test webhook received.
type hookRequest struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// hookServer is a loopback webhook that records requests and answers with
// the statuses in order (the last one repeats).
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []hookRequest
	statuses []int
	reply    func(r *http.Request, body []byte) string
}

func newHookServer(t *testing.T, statuses ...int) *hookServer {
	t.Helper()
	h := &hookServer{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.requests)
		h.requests = append(h.requests, hookRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		status := h.statuses[min(n, len(h.statuses)-1)]
		reply := h.reply
		h.mu.Unlock()
		w.WriteHeader(status)
		if reply != nil {
			_, _ = io.WriteString(w, reply(r, body))
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.requests...)
}

// verifyLikeAReceiver checks a signature the way a receiver written in any
// language would: recompute the HMAC over "t.body" and compare.
func verifyLikeAReceiver(t *testing.T, key string, r hookRequest, header string) int64 {
	t.Helper()
	sig := r.header.Get(header)
	var ts, v1 string
	for _, part := range strings.Split(sig, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(ts + "." + string(r.body)))
	if want := hex.EncodeToString(m.Sum(nil)); !hmac.Equal([]byte(want), []byte(v1)) {
		t.Errorf("signature %q does not verify over %q", sig, r.body)
	}
	var sec int64
	for _, c := range ts {
		sec = sec*10 + int64(c-'0')
	}
	return sec
}

// fakeClock advances by step on every reading.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

func TestHTTPStepSignedRequest(t *testing.T) {
	srv := newHookServer(t, http.StatusAccepted)
	srv.reply = func(*http.Request, []byte) string { return "  restarted\n" }
	const token, key = "tok-9f8e7d6c5b4a", "signing-key-0123456789"
	set := mustSet(t, mustParse(t, `name: auth-reset
match: {categories: [authentication], require_monitor: true}
steps:
  - name: restart
    type: http
    url: ${HOOK_URL}/restart?incident={{not-a-template}}
    method: PUT
    headers:
      Authorization: Bearer ${HOOK_TOKEN}
      X-Team: sre
    body: '{"id": {{.Incident.ID}}, "title": {{json .Incident.Title}}, "step": "{{.Step}}", "attempt": {{.Attempt}}}'
    sign: {secret_env: HOOK_SECRET}
`))
	logs := &logBuffer{}
	clock := &fakeClock{now: time.Unix(1767225600, 0)}
	x := newExecutor(t, set, env{"HOOK_URL": srv.URL, "HOOK_TOKEN": token, "HOOK_SECRET": key}, logs, func(o *Options) {
		o.Now = clock.Now
		o.UserAgent = "secopsd-test"
	})
	res := run(t, x, "auth-reset", 0, testIncident())
	if !res.OK || res.Error != "" {
		t.Fatalf("step failed: %+v", res)
	}
	if res.Output != "restarted" || res.Detail["status_code"] != 202 || res.Detail["attempts"] != 1 ||
		res.Detail["method"] != "PUT" || res.Detail["type"] != "http" || !strings.HasPrefix(srv.URL, "http://"+res.Detail["host"].(string)) {
		t.Errorf("result: %+v", res)
	}
	reqs := srv.got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.method != "PUT" || r.path != "/restart" || r.query != "incident={{not-a-template}}" && r.query != "incident=%7B%7Bnot-a-template%7D%7D" {
		t.Errorf("request line: %s %s?%s", r.method, r.path, r.query)
	}
	if r.header.Get("Authorization") != "Bearer "+token || r.header.Get("X-Team") != "sre" ||
		r.header.Get("Content-Type") != "application/json" || r.header.Get("User-Agent") != "secopsd-test" {
		t.Errorf("headers: %v", r.header)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body is not JSON (title must be escaped): %s", r.body)
	}
	if body["id"] != 42.0 || body["title"] != `login "fails"` || body["step"] != "restart" || body["attempt"] != 1.0 {
		t.Errorf("body: %s", r.body)
	}
	ts := verifyLikeAReceiver(t, key, r, DefaultSignatureHeader)
	if ts < 1767225600 || ts > 1767225600+10 {
		t.Errorf("signature timestamp %d is not the injected clock's", ts)
	}
	if err := VerifySignature([]byte(key), r.body, r.header.Get(DefaultSignatureHeader), time.Unix(ts, 0), time.Minute); err != nil {
		t.Errorf("VerifySignature: %v", err)
	}
	assertNoLeak(t, token, res, logs)
	assertNoLeak(t, key, res, logs)
	if !strings.Contains(logs.String(), `"playbook step succeeded"`) || !strings.Contains(logs.String(), `"incident":42`) {
		t.Errorf("no step log line: %s", logs)
	}
}

func TestHTTPStepDefaultBodyAndBuild(t *testing.T) {
	srv := newHookServer(t, http.StatusOK)
	set := mustSet(t, mustParse(t, `name: deploy
match: {tiers: [MINOR]}
steps:
  - name: redeploy
    type: build
    url: ${DEPLOY_URL}
    sign: {secret_env: HOOK_SECRET, header: X-Sig}
`))
	x := newExecutor(t, set, env{"DEPLOY_URL": srv.URL + "/deploy", "HOOK_SECRET": "k"}, nil, nil)
	res := run(t, x, "deploy", 0, testIncident())
	if !res.OK || res.Detail["build"] != true || res.Detail["type"] != "build" {
		t.Fatalf("result: %+v", res)
	}
	r := srv.got()[0]
	if r.method != "POST" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("request: %s %v", r.method, r.header)
	}
	var data TemplateData
	if err := json.Unmarshal(r.body, &data); err != nil {
		t.Fatal(err)
	}
	want := TemplateData{Incident: TemplateIncident{ID: 42, Title: `login "fails"`, Monitor: "auth-login", Category: "authentication",
		Severity: "high", Tier: "MINOR", Status: "open", Fingerprint: "fp-1", OpenedAt: "2026-03-01T12:00:00Z", Failures: 2},
		Playbook: "deploy", Step: "redeploy", RunID: 7, Attempt: 1}
	if data != want {
		t.Errorf("default body = %+v\nwant %+v", data, want)
	}
	verifyLikeAReceiver(t, "k", r, "X-Sig")
}

func TestHTTPStepRetriesAndResigns(t *testing.T) {
	srv := newHookServer(t, 503, 502, 200)
	set := mustSet(t, mustParse(t, `name: purge
match: {tiers: [MINOR]}
steps:
  - name: purge
    type: http
    idempotent: true
    url: ${URL}
    sign: {secret_env: KEY}
    retries: 2
`))
	clock := &fakeClock{now: time.Unix(1767225600, 0), step: 7 * time.Second}
	x := newExecutor(t, set, env{"URL": srv.URL, "KEY": "key"}, nil, func(o *Options) { o.Now = clock.Now })
	res := run(t, x, "purge", 0, testIncident())
	if !res.OK || res.Detail["attempts"] != 3 || res.Detail["status_code"] != 200 {
		t.Fatalf("result: %+v", res)
	}
	reqs := srv.got()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	var stamps []int64
	for _, r := range reqs {
		stamps = append(stamps, verifyLikeAReceiver(t, "key", r, DefaultSignatureHeader))
	}
	if !(stamps[0] < stamps[1] && stamps[1] < stamps[2]) {
		t.Errorf("retries are not signed afresh: timestamps %v", stamps)
	}
}

func TestHTTPStepGivesUp(t *testing.T) {
	srv := newHookServer(t, 503)
	srv.reply = func(*http.Request, []byte) string { return "maintenance" }
	set := mustSet(t, mustParse(t, `name: purge
match: {tiers: [MINOR]}
steps:
  - name: purge
    type: http
    idempotent: true
    url: ${URL}
    retries: 2
`))
	x := newExecutor(t, set, env{"URL": srv.URL}, nil, nil)
	res := run(t, x, "purge", 0, testIncident())
	if res.OK || res.Detail["attempts"] != 3 || res.Detail["status_code"] != 503 || res.Output != "maintenance" ||
		!strings.Contains(res.Error, "answered 503, want 2xx") {
		t.Fatalf("result: %+v", res)
	}
	if n := len(srv.got()); n != 3 {
		t.Errorf("%d requests, want 1 + 2 retries", n)
	}
}

func TestHTTPStepExpectStatus(t *testing.T) {
	set := mustSet(t, mustParse(t, `name: switch
match: {tiers: [MINOR]}
steps:
  - name: want-202
    type: http
    url: ${URL}
    expect_status: [202, 204]
  - name: retried-but-not-on-4xx
    type: http
    idempotent: true
    url: ${URL}
    retries: 3
`))
	ok := newHookServer(t, 200)
	x := newExecutor(t, set, env{"URL": ok.URL}, nil, nil)
	res := run(t, x, "switch", 0, testIncident())
	if res.OK || !strings.Contains(res.Error, "answered 200, want 202 or 204") {
		t.Errorf("200 accepted where 202 or 204 was expected: %+v", res)
	}
	accepted := newHookServer(t, 204)
	x = newExecutor(t, set, env{"URL": accepted.URL}, nil, nil)
	if res := run(t, x, "switch", 0, testIncident()); !res.OK {
		t.Errorf("204 refused: %+v", res)
	}
	bad := newHookServer(t, 400)
	x = newExecutor(t, set, env{"URL": bad.URL}, nil, nil)
	res = run(t, x, "switch", 1, testIncident())
	if res.OK || len(bad.got()) != 1 || res.Detail["attempts"] != 1 {
		t.Errorf("a 400 must not be retried: %d requests, %+v", len(bad.got()), res)
	}
}

func TestHTTPStepDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	set := mustSet(t, mustParse(t, "name: r\nmatch: {tiers: [MINOR]}\nsteps: [{name: hook, type: http, url: '${URL}'}]\n"))
	x := newExecutor(t, set, env{"URL": srv.URL}, nil, nil)
	res := run(t, x, "r", 0, testIncident())
	if res.OK || res.Detail["status_code"] != http.StatusTemporaryRedirect || elsewhere.Load() != 0 {
		t.Errorf("redirect followed or accepted: %+v, %d requests elsewhere", res, elsewhere.Load())
	}
}

func TestHTTPStepEnvironmentProblems(t *testing.T) {
	srv := newHookServer(t, 200)
	set := mustSet(t, mustParse(t, `name: p
match: {tiers: [MINOR]}
steps:
  - name: hook
    type: http
    url: ${HOOK_URL}
    headers: {Authorization: "Bearer ${HOOK_TOKEN}"}
    sign: {secret_env: HOOK_SECRET}
`))
	full := env{"HOOK_URL": srv.URL, "HOOK_TOKEN": "t0ken-value", "HOOK_SECRET": "s3cret-value"}
	without := func(name string) env {
		e := env{}
		for k, v := range full {
			if k != name {
				e[k] = v
			}
		}
		return e
	}
	cases := []struct {
		env  env
		want string
	}{
		{without("HOOK_URL"), "url: environment variable is not set: HOOK_URL"},
		{without("HOOK_TOKEN"), "headers.Authorization: environment variable is not set: HOOK_TOKEN"},
		{without("HOOK_SECRET"), "sign.secret_env: environment variable HOOK_SECRET is not set"},
		{env{"HOOK_URL": srv.URL, "HOOK_TOKEN": "t0ken-value", "HOOK_SECRET": ""}, "environment variable HOOK_SECRET is empty"},
		{env{"HOOK_URL": "ftp://user:pw-value@example.com/x", "HOOK_TOKEN": "t", "HOOK_SECRET": "s"}, "url: expected an absolute http or https URL (after expanding"},
		{env{"HOOK_URL": srv.URL, "HOOK_TOKEN": "t\r\nX-Evil: 1", "HOOK_SECRET": "s"}, "headers.Authorization: the value from the environment is not one line"},
	}
	for _, c := range cases {
		logs := &logBuffer{}
		x := newExecutor(t, set, c.env, logs, nil)
		res := run(t, x, "p", 0, testIncident())
		if res.OK || !strings.Contains(res.Error, c.want) {
			t.Errorf("want error %q, got %+v", c.want, res)
		}
		for _, secret := range []string{"t0ken-value", "s3cret-value", "pw-value"} {
			assertNoLeak(t, secret, res, logs)
		}
	}
	if n := len(srv.got()); n != 0 {
		t.Errorf("%d requests sent despite the problems", n)
	}
}

func TestHTTPStepTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	set := mustSet(t, mustParse(t, "name: slow\nmatch: {tiers: [MINOR]}\nsteps: [{name: hook, type: http, url: '${URL}', timeout: 200ms}]\n"))
	x := newExecutor(t, set, env{"URL": srv.URL}, nil, nil)
	start := time.Now()
	res := run(t, x, "slow", 0, testIncident())
	if res.OK || !strings.Contains(res.Error, "timed out after") {
		t.Errorf("result: %+v", res)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the step's timeout was not obeyed: %s", d)
	}
}

func TestHTTPStepNeverLeaksSecrets(t *testing.T) {
	const token, key, queryToken = "bearer-c0ffee-1234", "hmac-key-deadbeef", "qtok-5150-abcdef"
	ghp := fakeGitHubToken()
	srv := newHookServer(t, 500)
	// A careless receiver echoes what it got, and leaks a credential of
	// its own.
	srv.reply = func(r *http.Request, body []byte) string {
		return "auth=" + r.Header.Get("Authorization") + " sig=" + r.Header.Get(DefaultSignatureHeader) +
			" url=" + r.URL.String() + " own=" + ghp
	}
	set := mustSet(t, mustParse(t, `name: leaky
match: {tiers: [MINOR]}
steps:
  - name: hook
    type: http
    url: ${HOOK_URL}
    headers: {Authorization: "Bearer ${HOOK_TOKEN}"}
    sign: {secret_env: HOOK_SECRET}
`))
	logs := &logBuffer{}
	e := env{"HOOK_URL": srv.URL + "/hook?token=" + queryToken, "HOOK_TOKEN": token, "HOOK_SECRET": key}
	x := newExecutor(t, set, e, logs, nil)
	res := run(t, x, "leaky", 0, testIncident())
	if res.OK || !strings.Contains(res.Output, "[REDACTED]") || !strings.Contains(res.Output, "[REDACTED:github-token]") {
		t.Fatalf("result: %+v", res)
	}
	for _, s := range []string{token, key, queryToken, ghp} {
		assertNoLeak(t, s, res, logs)
	}

	// A transport error (nothing listens) must not leak the URL either.
	srv.Close()
	res = run(t, x, "leaky", 0, testIncident())
	if res.OK || res.Error == "" {
		t.Fatalf("result: %+v", res)
	}
	assertNoLeak(t, queryToken, res, logs)
}

func TestHTTPStepObeysEngineContext(t *testing.T) {
	srv := newHookServer(t, 200)
	set := mustSet(t, mustParse(t, "name: p\nmatch: {tiers: [MINOR]}\nsteps: [{name: hook, type: http, url: '${URL}'}]\n"))
	x := newExecutor(t, set, env{"URL": srv.URL}, nil, nil)
	ctx, cancel := contextWithCancel()
	cancel()
	pb, _ := set.Playbook("p")
	res := x.RunStep(ctx, incident.StepRequest{Incident: testIncident(), Playbook: "p", Index: 0, Step: pb.Steps[0]})
	if res.OK || !strings.Contains(res.Error, "not started") || len(srv.got()) != 0 {
		t.Errorf("a cancelled step ran: %+v", res)
	}
}

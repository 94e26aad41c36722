package slack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// standIn is a Slack Web API stand-in on loopback speaking Slack's wire
// format (form-encoded requests, {"ok":…} answers, 429 with Retry-After).
// It records every call and keeps the posted messages, with their
// metadata, for conversations.history and conversations.replies.
type standIn struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	calls []call
	msgs  []postedMsg
	next  int
	// down answers 503 to everything while true.
	down bool
	// rateLimit answers this many calls with 429 and Retry-After.
	rateLimit  int
	retryAfter int
	// errorFor answers chat.postMessage to a channel with ok:false.
	errorFor map[string]string
	// hangPost, when set, stores the next chat.postMessage and then holds
	// the answer until the client gives up (a lost answer).
	hangPost bool
	// failAfterStore, when set, stores the next chat.postMessage and
	// answers it with this HTTP status (Slack failing after storing).
	failAfterStore int
}

// call is one recorded request.
type call struct {
	Method string
	Form   map[string]string
	At     time.Time
	Status int
}

// postedMsg is a message the stand-in accepted.
type postedMsg struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	Blocks   string
	Key      string
	Updates  []string // blocks of each chat.update
}

func newStandIn(t *testing.T) *standIn {
	s := &standIn{t: t, errorFor: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *standIn) url() string { return s.srv.URL + "/api/" }

// channelID maps a #name to a stable id, as Slack answers.
func standInChannelID(ch string) string {
	if strings.HasPrefix(ch, "#") {
		return "C" + strings.ToUpper(strings.NewReplacer("-", "", "_", "", ".", "").Replace(ch[1:]))
	}
	return ch
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form := map[string]string{}
	for k, v := range r.Form {
		form[k] = v[0]
	}
	s.mu.Lock()
	c := call{Method: method, Form: form, At: time.Now()}
	write := func(status int, body any) {
		c.Status = status
		s.calls = append(s.calls, c)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	if form["token"] != "xoxb-test-token" && r.Header.Get("Authorization") != "Bearer xoxb-test-token" {
		write(http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	if s.down {
		write(http.StatusServiceUnavailable, map[string]any{"ok": false})
		return
	}
	if s.rateLimit > 0 {
		s.rateLimit--
		w.Header().Set("Retry-After", fmt.Sprint(s.retryAfter))
		write(http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
		return
	}
	switch method {
	case "chat.postMessage":
		ch := form["channel"]
		if e := s.errorFor[ch]; e != "" {
			write(http.StatusOK, map[string]any{"ok": false, "error": e})
			return
		}
		s.next++
		m := postedMsg{Channel: standInChannelID(ch), TS: fmt.Sprintf("1700000000.%06d", s.next), ThreadTS: form["thread_ts"],
			Text: form["text"], Blocks: unescapeJSON(form["blocks"])}
		var md struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if json.Unmarshal([]byte(form["metadata"]), &md) == nil {
			m.Key, _ = md.EventPayload["key"].(string)
		}
		s.msgs = append(s.msgs, m)
		hang, failStatus := s.hangPost, s.failAfterStore
		s.hangPost, s.failAfterStore = false, 0
		if hang {
			c.Status = 0
			s.calls = append(s.calls, c)
			s.mu.Unlock()
			<-r.Context().Done() // the answer is lost
			return
		}
		if failStatus != 0 {
			write(failStatus, map[string]any{"ok": false})
			return
		}
		write(http.StatusOK, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "message": map[string]any{"ts": m.TS}})
	case "chat.update":
		for i := range s.msgs {
			if s.msgs[i].Channel == form["channel"] && s.msgs[i].TS == form["ts"] {
				s.msgs[i].Updates = append(s.msgs[i].Updates, unescapeJSON(form["blocks"]))
				write(http.StatusOK, map[string]any{"ok": true, "channel": form["channel"], "ts": form["ts"]})
				return
			}
		}
		write(http.StatusOK, map[string]any{"ok": false, "error": "message_not_found"})
	case "conversations.history", "conversations.replies":
		var out []map[string]any
		for _, m := range s.msgs {
			if m.Channel != form["channel"] {
				continue
			}
			if method == "conversations.replies" && m.TS != form["ts"] && m.ThreadTS != form["ts"] {
				continue
			}
			if method == "conversations.history" && m.ThreadTS != "" {
				continue
			}
			out = append(out, map[string]any{"type": "message", "ts": m.TS, "thread_ts": m.ThreadTS, "text": m.Text,
				"metadata": map[string]any{"event_type": metadataType, "event_payload": map[string]any{"key": m.Key}}})
		}
		write(http.StatusOK, map[string]any{"ok": true, "messages": out, "has_more": false})
	default:
		write(http.StatusOK, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func (s *standIn) set(fn func(s *standIn)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

func (s *standIn) messages() []postedMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]postedMsg, len(s.msgs))
	copy(out, s.msgs)
	return out
}

func (s *standIn) recorded() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// unescapeJSON undoes encoding/json's HTML escaping (\u003c …) so that
// tests compare blocks with the characters Slack receives.
func unescapeJSON(s string) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(s)
}

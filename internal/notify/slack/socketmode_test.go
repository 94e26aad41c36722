package slack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/secopsd/secopsd/internal/incident"
	sl "github.com/secopsd/secopsd/internal/notify/slack"
)

// socketAck is what secopsd writes back on the websocket.
type socketAck struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
}

// TestSocketMode: secopsd opens the connection with the app token, an
// interactive envelope (an approver's click) is acknowledged after the
// approval is decided, a slash_commands envelope is acknowledged with the
// ephemeral answer, and a stranger's click is refused and recorded.
func TestSocketMode(t *testing.T) {
	f := newIXFixture(t)
	a := f.newApproval(t)
	b := f.newApproval(t)
	sm, err := sl.NewSocketMode(sl.SocketModeOptions{
		Actions: f.actions, AppToken: "xapp-1-A0SECOPSD-test", BotToken: "xoxb-test-bot-token",
		APIURL: f.standIn.srv.URL + "/api", ReconnectDelay: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	sm.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sm.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})

	var conn *websocket.Conn
	select {
	case conn = <-f.standIn.wsConns:
	case <-time.After(10 * time.Second):
		t.Fatal("secopsd did not open the websocket")
	}
	defer conn.Close()
	open := f.standIn.callsOf("apps.connections.open")
	if len(open) == 0 || (open[0].Auth != "Bearer xapp-1-A0SECOPSD-test" && open[0].Form.Get("token") != "xapp-1-A0SECOPSD-test") {
		t.Fatalf("apps.connections.open calls: %+v", open)
	}
	if err := conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1,
		"connection_info": map[string]any{"app_id": "A0SECOPSD"}, "debug_info": map[string]any{"host": "standin"}}); err != nil {
		t.Fatal(err)
	}

	send := func(envelope, typ string, payload json.RawMessage, acceptsPayload bool) socketAck {
		t.Helper()
		if err := conn.WriteJSON(map[string]any{"envelope_id": envelope, "type": typ, "payload": payload,
			"accepts_response_payload": acceptsPayload, "retry_attempt": 0, "retry_reason": ""}); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var ack socketAck
		if err := conn.ReadJSON(&ack); err != nil {
			t.Fatalf("read ack of %s: %v", envelope, err)
		}
		if ack.EnvelopeID != envelope {
			t.Fatalf("ack for %q, want %q", ack.EnvelopeID, envelope)
		}
		return ack
	}

	send("env-click-1", "interactive", json.RawMessage(blockActionsJSON(ixApprover, sl.ActionApprove, a.ID, f.standIn.responseURL(1))), false)
	if got := f.approval(t, a.ID); got.Status != incident.ApprovalApproved || got.Actor != "slack:"+ixApprover {
		t.Fatalf("approval after the acknowledged click: %+v", got)
	}

	send("env-click-2", "interactive", json.RawMessage(blockActionsJSON(ixStranger, sl.ActionDeny, b.ID, f.standIn.responseURL(2))), false)
	if got := f.approval(t, b.ID); got.Status != incident.ApprovalPending {
		t.Fatalf("a stranger decided over Socket Mode: %+v", got)
	}
	tl := f.timeline(t, b.IncidentID)
	if last := tl[len(tl)-1]; last.Kind != incident.KindApprovalRefused || last.Actor != "slack:"+ixStranger {
		t.Fatalf("stranger's click not recorded: %s by %s", last.Kind, last.Actor)
	}

	cmd, _ := json.Marshal(map[string]any{
		"token": "legacy", "team_id": "T0TEAM", "team_domain": "acme", "channel_id": ixChannel, "channel_name": "sec-alerts",
		"user_id": ixApprover, "user_name": "jdoe", "command": "/secops", "text": "deny " + itoa(b.ID) + " not now",
		"api_app_id": "A0SECOPSD", "is_enterprise_install": "false", "response_url": f.standIn.responseURL(3), "trigger_id": "7212.3456.abc",
	})
	ack := send("env-cmd-1", "slash_commands", cmd, true)
	var resp sl.CommandResponse
	if err := json.Unmarshal(ack.Payload, &resp); err != nil {
		t.Fatalf("command ack payload %s: %v", ack.Payload, err)
	}
	if resp.ResponseType != "ephemeral" || !strings.Contains(resp.Text, "You denied step") {
		t.Fatalf("command answer: %+v", resp)
	}
	if got := f.approval(t, b.ID); got.Status != incident.ApprovalDenied || got.Comment != "not now" {
		t.Fatalf("approval after /secops deny: %+v", got)
	}
}

func TestNewSocketModeValidates(t *testing.T) {
	f := newIXFixture(t)
	if _, err := sl.NewSocketMode(sl.SocketModeOptions{Actions: f.actions, AppToken: "xoxb-not-an-app-token"}); err == nil {
		t.Error("a bot token was accepted as the app token")
	}
	if _, err := sl.NewSocketMode(sl.SocketModeOptions{AppToken: "xapp-1"}); err == nil {
		t.Error("socket mode without Actions was built")
	}
}

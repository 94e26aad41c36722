package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	sl "github.com/secopsd/secopsd/internal/notify/slack"
	"github.com/secopsd/secopsd/internal/secretscan"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		text string
		want sl.Command
	}{
		{"", sl.Command{Sub: "help"}},
		{"   ", sl.Command{Sub: "help"}},
		{"help", sl.Command{Sub: "help"}},
		{"STATUS", sl.Command{Sub: "status"}},
		{"incidents", sl.Command{Sub: "incidents"}},
		{"incidents extra words", sl.Command{Sub: "incidents"}},
		{"show 42", sl.Command{Sub: "show", ID: 42}},
		{"show #42", sl.Command{Sub: "show", ID: 42}},
		{"show\t7", sl.Command{Sub: "show", ID: 7}},
		{"show 42 more", sl.Command{Sub: "show", ID: 42, Problem: "`show` takes only an id"}},
		{"show", sl.Command{Sub: "show", Problem: "`show` needs an id, e.g. `/secops show 42`"}},
		{"show x", sl.Command{Sub: "show", Problem: "`show` needs a positive number as its id"}},
		{"show -3", sl.Command{Sub: "show", Problem: "`show` needs a positive number as its id"}},
		{"show 99999999999999999999", sl.Command{Sub: "show", Problem: "`show` needs a positive number as its id"}},
		{"ack 3", sl.Command{Sub: "ack", ID: 3}},
		{"ack 3 looking into it  now", sl.Command{Sub: "ack", ID: 3, Comment: "looking into it  now"}},
		{"resolve 4 fixed by rollback", sl.Command{Sub: "resolve", ID: 4, Comment: "fixed by rollback"}},
		{"approve 12", sl.Command{Sub: "approve", ID: 12}},
		{"deny 12 not during the sale", sl.Command{Sub: "deny", ID: 12, Comment: "not during the sale"}},
		{"reboot 1", sl.Command{Sub: "help", Unknown: "reboot"}},
		{"<!here>", sl.Command{Sub: "help", Unknown: "<!here>"}},
	}
	for _, c := range cases {
		if got := sl.ParseCommand(c.text); got != c.want {
			t.Errorf("ParseCommand(%q) = %+v, want %+v", c.text, got, c.want)
		}
	}
}

// TestCommandsReadOnly: status, incidents, show and help answer anyone,
// ephemerally.
func TestCommandsReadOnly(t *testing.T) {
	f := newIXFixture(t)
	a := f.newApproval(t)
	other := f.newIncident(t, "TLS certificate expires in 5 days")

	resp, txt := f.command(t, ixStranger, "status")
	if resp.ResponseType != "ephemeral" {
		t.Fatalf("response_type %q", resp.ResponseType)
	}
	for _, want := range []string{"2 open, 0 acknowledged", "2 high", "1 approval request(s) pending", "approval *" + itoa(a.ID) + "*: step *restart*"} {
		if !strings.Contains(txt, want) {
			t.Errorf("status lacks %q:\n%s", want, txt)
		}
	}
	_, txt = f.command(t, ixStranger, "incidents")
	if i, j := strings.Index(txt, "#"+itoa(other.ID)), strings.Index(txt, "#"+itoa(a.IncidentID)); i < 0 || j < 0 || i > j {
		t.Errorf("incidents not listed newest first:\n%s", txt)
	}
	if !strings.Contains(txt, "<https://secopsd.example.org/ui/incidents/"+itoa(other.ID)+"|#"+itoa(other.ID)+">") {
		t.Errorf("incidents lack the UI link:\n%s", txt)
	}
	_, txt = f.command(t, ixStranger, "show "+itoa(a.IncidentID))
	for _, want := range []string{"API unhealthy", "severity high", "tier MAJOR", "status open", "*incident.opened* by secopsd/engine: check failed"} {
		if !strings.Contains(txt, want) {
			t.Errorf("show lacks %q:\n%s", want, txt)
		}
	}
	_, txt = f.command(t, ixStranger, "show 9999")
	if !strings.Contains(txt, "There is no incident 9999") {
		t.Errorf("show of a missing incident: %s", txt)
	}
	for _, text := range []string{"", "help", "frobnicate 3", "show"} {
		_, txt = f.command(t, ixStranger, text)
		if !strings.Contains(txt, "`/secops approve ID [comment]`") {
			t.Errorf("%q does not show the help:\n%s", text, txt)
		}
	}
	if _, txt = f.command(t, ixStranger, "frobnicate"); !strings.Contains(txt, "Unknown subcommand `frobnicate`") {
		t.Errorf("unknown subcommand: %s", txt)
	}
}

// TestCommandsStateChanging: ack, resolve, approve and deny work for
// approvers with actor slack:<id>, and are refused to anyone else.
func TestCommandsStateChanging(t *testing.T) {
	f := newIXFixture(t)
	inc := f.newIncident(t, "Disk full")
	id := itoa(inc.ID)

	if _, txt := f.command(t, ixStranger, "ack "+id); !strings.Contains(txt, "You may not `ack` incidents") {
		t.Fatalf("stranger's ack: %s", txt)
	}
	if got, _ := f.st.GetIncident(t.Context(), inc.ID); got.Status != incident.StatusOpen {
		t.Fatalf("a stranger acknowledged: %s", got.Status)
	}
	if _, txt := f.command(t, ixApprover, "ack "+id+" on it"); !strings.Contains(txt, "acknowledged") {
		t.Fatalf("ack: %s", txt)
	}
	tl := f.timeline(t, inc.ID)
	last := tl[len(tl)-1]
	if last.Kind != incident.KindAcknowledged || last.Actor != "slack:"+ixApprover || !strings.Contains(string(last.Payload), `"comment":"on it"`) {
		t.Fatalf("ack entry: %s by %s %s", last.Kind, last.Actor, last.Payload)
	}
	if _, txt := f.command(t, ixApprover, "ack "+id); !strings.Contains(txt, "already acknowledged") {
		t.Fatalf("second ack: %s", txt)
	}
	if _, txt := f.command(t, ixStranger, "resolve "+id); !strings.Contains(txt, "You may not `resolve`") {
		t.Fatalf("stranger's resolve: %s", txt)
	}
	if _, txt := f.command(t, ixApprover, "resolve "+id+" rolled back"); !strings.Contains(txt, "resolved") {
		t.Fatalf("resolve: %s", txt)
	}
	if got, _ := f.st.GetIncident(t.Context(), inc.ID); got.Status != incident.StatusResolved {
		t.Fatalf("status after resolve: %s", got.Status)
	}
	if _, txt := f.command(t, ixApprover, "ack 424242"); !strings.Contains(txt, "There is no incident 424242") {
		t.Fatalf("ack of a missing incident: %s", txt)
	}

	a1, a2 := f.newApproval(t), f.newApproval(t)
	if _, txt := f.command(t, ixStranger, "approve "+itoa(a1.ID)); !strings.Contains(txt, "You may not approve") {
		t.Fatalf("stranger's approve: %s", txt)
	}
	tl = f.timeline(t, a1.IncidentID)
	if last := tl[len(tl)-1]; last.Kind != incident.KindApprovalRefused || last.Actor != "slack:"+ixStranger {
		t.Fatalf("stranger's approve not recorded: %s by %s", last.Kind, last.Actor)
	}
	if _, txt := f.command(t, ixApprover, "approve "+itoa(a1.ID)+" safe now"); !strings.Contains(txt, "You approved step *restart*") {
		t.Fatalf("approve: %s", txt)
	}
	if got := f.approval(t, a1.ID); got.Status != incident.ApprovalApproved || got.Comment != "safe now" || got.Actor != "slack:"+ixApprover {
		t.Fatalf("approval after approve: %+v", got)
	}
	if _, txt := f.command(t, ixApprover, "deny "+itoa(a2.ID)); !strings.Contains(txt, "You denied step") {
		t.Fatalf("deny: %s", txt)
	}
	if _, txt := f.command(t, ixApprover, "deny "+itoa(a2.ID)); !strings.Contains(txt, "already denied by slack:"+ixApprover) {
		t.Fatalf("second deny: %s", txt)
	}
	if _, txt := f.command(t, ixApprover, "approve 777"); !strings.Contains(txt, "There is no approval request 777") {
		t.Fatalf("approve of a missing request: %s", txt)
	}
}

// TestCommandRepliesEscapedAndRedacted: text from incidents and the
// timeline can neither mention, link nor leak a secret.
func TestCommandRepliesEscapedAndRedacted(t *testing.T) {
	const token = "ghp_R2x9Lk7QpZt4Wm8Vb3Nc6Hs1Jd5Fg0Ya2UeX"
	if ms := secretscan.NewScanner(secretscan.DefaultRules()).Scan([]byte("token " + token)); len(ms) == 0 {
		t.Fatal("test token is not recognised by the secret scanner")
	}
	f := newIXFixture(t)
	inc := f.newIncident(t, "<!here> deploy & <http://evil.example|click me> leaked "+token+" \x07bell")
	if _, _, err := f.engine.AddNote(t.Context(), inc.ID, "cli:ops", "see <@U0BOSS> & <!channel>"); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"incidents", "show " + itoa(inc.ID)} {
		resp, txt := f.command(t, ixStranger, text)
		all := txt + resp.Text
		for _, bad := range []string{"<!here>", "<http://evil", "<@U0BOSS>", "<!channel>", token, " & ", "\x07"} {
			if strings.Contains(all, bad) {
				t.Errorf("%s: reply contains %q:\n%s", text, bad, all)
			}
		}
		if !strings.Contains(txt, "&lt;!here&gt; deploy &amp; &lt;http://evil.example|click me&gt;") || !strings.Contains(txt, "[REDACTED") {
			t.Errorf("%s: title not escaped and redacted:\n%s", text, txt)
		}
	}
	_, txt := f.command(t, ixStranger, "show "+itoa(inc.ID))
	if !strings.Contains(txt, "see &lt;@U0BOSS&gt; &amp; &lt;!channel&gt;") {
		t.Errorf("note not escaped:\n%s", txt)
	}
	if _, txt := f.command(t, ixStranger, "<!here>"); strings.Contains(txt, "<!here>") {
		t.Errorf("unknown subcommand echoed unescaped: %s", txt)
	}
}

// TestSlowCommandFollowsUp: a command slower than AckWithin is answered
// "working on it" and its result follows through the response URL.
func TestSlowCommandFollowsUp(t *testing.T) {
	release := make(chan struct{})
	var wf *slowWorkflow
	f := newIXFixture(t, func(o *sl.ActionsOptions) {
		o.AckWithin = 20 * time.Millisecond
		wf = &slowWorkflow{inner: o.Workflow, release: release}
		o.Workflow = wf
	})
	inc := f.newIncident(t, "Queue backlog")
	if _, txt := f.command(t, ixApprover, "ack "+itoa(inc.ID)); !strings.Contains(txt, "Working on it") {
		t.Fatalf("slow ack answered: %s", txt)
	}
	close(release)
	waitFor(t, "the follow-up", func() bool { return len(f.standIn.posted()) == 1 })
	p := f.standIn.posted()[0]
	if p.Path != "/response/99" || p.Body["response_type"] != "ephemeral" || !strings.Contains(responseText(p.Body), "acknowledged") {
		t.Fatalf("follow-up: %+v", p)
	}
}

type slowWorkflow struct {
	inner   sl.IncidentActions
	release chan struct{}
}

func (s *slowWorkflow) Acknowledge(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return incident.Incident{}, incident.TimelineEntry{}, ctx.Err()
	}
	return s.inner.Acknowledge(ctx, id, actor, comment)
}

func (s *slowWorkflow) Resolve(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return incident.Incident{}, incident.TimelineEntry{}, ctx.Err()
	}
	return s.inner.Resolve(ctx, id, actor, comment)
}

// TestActionsShutdown: after Shutdown no new work starts.
func TestActionsShutdown(t *testing.T) {
	f := newIXFixture(t)
	if err := f.actions.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	a := f.newApproval(t)
	_, txt := f.command(t, ixApprover, "approve "+itoa(a.ID))
	if !strings.Contains(txt, "shutting down") || f.approval(t, a.ID).Status != incident.ApprovalPending {
		t.Fatalf("after shutdown: %s", txt)
	}
}

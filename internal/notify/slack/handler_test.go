package slack_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	sl "github.com/secopsd/secopsd/internal/notify/slack"
)

// TestApproveClick: a configured approver's click decides the request
// (actor slack:<id>) before the answer to Slack, and the clicker gets an
// ephemeral confirmation through the response URL.
func TestApproveClick(t *testing.T) {
	f := newIXFixture(t)
	a := f.newApproval(t)
	f.click(t, ixApprover, sl.ActionApprove, a.ID, 1)
	got := f.approval(t, a.ID)
	if got.Status != incident.ApprovalApproved || got.Actor != "slack:"+ixApprover || got.DecidedBy != incident.DecidedByHuman {
		t.Fatalf("approval after the click: %+v", got)
	}
	tl := f.timeline(t, a.IncidentID)
	if last := tl[len(tl)-1]; last.Kind != incident.KindApprovalDecided || last.Actor != "slack:"+ixApprover {
		t.Fatalf("last timeline entry: %s by %s", last.Kind, last.Actor)
	}
	posted := f.standIn.posted()
	if len(posted) != 1 || posted[0].Path != "/response/1" {
		t.Fatalf("response URL posts: %+v", posted)
	}
	if rt := posted[0].Body["response_type"]; rt != "ephemeral" || posted[0].Body["replace_original"] != false {
		t.Fatalf("reply is not ephemeral beside the original: %v", posted[0].Body)
	}
	if txt := responseText(posted[0].Body); !strings.Contains(txt, "You approved step *restart*") {
		t.Fatalf("reply: %q", txt)
	}
}

// TestDenyClick: Deny denies.
func TestDenyClick(t *testing.T) {
	f := newIXFixture(t)
	a := f.newApproval(t)
	f.click(t, ixApprover, sl.ActionDeny, a.ID, 1)
	if got := f.approval(t, a.ID); got.Status != incident.ApprovalDenied || got.Actor != "slack:"+ixApprover {
		t.Fatalf("approval after Deny: %+v", got)
	}
}

// TestClickByNonApprover: someone who is not a configured approver is
// refused ephemerally, the request stays pending, and the attempt is in
// the incident's timeline.
func TestClickByNonApprover(t *testing.T) {
	f := newIXFixture(t)
	a := f.newApproval(t)
	f.click(t, ixStranger, sl.ActionApprove, a.ID, 1)
	if got := f.approval(t, a.ID); got.Status != incident.ApprovalPending {
		t.Fatalf("a stranger's click decided the request: %+v", got)
	}
	if n := f.approvals.calls.Load(); n != 0 {
		t.Fatalf("Decide called %d times for a stranger", n)
	}
	tl := f.timeline(t, a.IncidentID)
	last := tl[len(tl)-1]
	if last.Kind != incident.KindApprovalRefused || last.Actor != "slack:"+ixStranger || !strings.Contains(string(last.Payload), "not a configured secopsd approver") {
		t.Fatalf("last timeline entry: %s by %s: %s", last.Kind, last.Actor, last.Payload)
	}
	posted := f.standIn.posted()
	if len(posted) != 1 || posted[0].Body["response_type"] != "ephemeral" {
		t.Fatalf("refusal: %+v", posted)
	}
	if txt := responseText(posted[0].Body); !strings.Contains(txt, "You may not approve approval request") {
		t.Fatalf("refusal text: %q", txt)
	}
}

// TestClickByApproverNotNamedByPolicy: a configured Slack approver who is
// not among the approvers the guardrail policy named for the request is
// refused by the remediator, which records it.
func TestClickByApproverNotNamedByPolicy(t *testing.T) {
	f := newIXFixture(t)
	a := f.newApproval(t, "slack:U0SOMEONEELSE")
	f.click(t, ixApprover, sl.ActionApprove, a.ID, 1)
	if got := f.approval(t, a.ID); got.Status != incident.ApprovalPending {
		t.Fatalf("decided: %+v", got)
	}
	tl := f.timeline(t, a.IncidentID)
	if last := tl[len(tl)-1]; last.Kind != incident.KindApprovalRefused || last.Actor != "slack:"+ixApprover {
		t.Fatalf("last entry %s by %s", last.Kind, last.Actor)
	}
	if txt := responseText(f.standIn.posted()[0].Body); !strings.Contains(txt, "not among the approvers the guardrail policy named") {
		t.Fatalf("reply: %q", txt)
	}
}

// TestClickAlreadyDecided: a second click says who decided.
func TestClickAlreadyDecided(t *testing.T) {
	f := newIXFixture(t)
	a := f.newApproval(t)
	f.click(t, ixApprover, sl.ActionDeny, a.ID, 1)
	f.clock.Add(time.Second)
	f.click(t, ixApprover, sl.ActionApprove, a.ID, 2)
	if got := f.approval(t, a.ID); got.Status != incident.ApprovalDenied {
		t.Fatalf("second click changed the decision: %+v", got)
	}
	posted := f.standIn.posted()
	if len(posted) != 2 {
		t.Fatalf("posts: %+v", posted)
	}
	if txt := responseText(posted[1].Body); !strings.Contains(txt, "was already denied by slack:"+ixApprover) {
		t.Fatalf("second reply: %q", txt)
	}
}

// TestApproverByUserGroup: members of a configured user group may decide;
// membership is looked up with usergroups.users.list (bot token) and
// cached for the TTL.
func TestApproverByUserGroup(t *testing.T) {
	f := newIXFixture(t, func(o *sl.ActionsOptions) {
		o.ApproverUsers = nil
		o.ApproverGroups = []string{ixGroup}
		o.GroupCacheTTL = time.Minute
	})
	f.standIn.setMembers(ixGroup, "U0OTHER", ixGroupie)
	a1, a2 := f.newApproval(t), f.newApproval(t)
	f.click(t, ixGroupie, sl.ActionApprove, a1.ID, 1)
	if got := f.approval(t, a1.ID); got.Status != incident.ApprovalApproved || got.Actor != "slack:"+ixGroupie {
		t.Fatalf("group member's click: %+v", got)
	}
	calls := f.standIn.callsOf("usergroups.users.list")
	if len(calls) != 1 || calls[0].Form.Get("usergroup") != ixGroup ||
		(calls[0].Auth != "Bearer xoxb-test-bot-token" && calls[0].Form.Get("token") != "xoxb-test-bot-token") {
		t.Fatalf("usergroups.users.list calls: %+v", calls)
	}
	// Removed from the group: still cached within the TTL, refused after.
	f.standIn.setMembers(ixGroup, "U0OTHER")
	f.clock.Add(30 * time.Second)
	ok, _ := f.actions.Approver(t.Context(), ixGroupie)
	if !ok || f.standIn.groupLookups(ixGroup) != 1 {
		t.Fatalf("within the TTL: approver %v after %d look-ups, want the cached membership", ok, f.standIn.groupLookups(ixGroup))
	}
	f.clock.Add(31 * time.Second)
	f.click(t, ixGroupie, sl.ActionApprove, a2.ID, 2)
	if got := f.approval(t, a2.ID); got.Status != incident.ApprovalPending {
		t.Fatalf("a removed member decided: %+v", got)
	}
	if n := f.standIn.groupLookups(ixGroup); n != 2 {
		t.Fatalf("look-ups after the TTL: %d, want 2", n)
	}
}

// TestApproverGroupLookupFails: when the user group cannot be looked up,
// nobody but the listed users is an approver.
func TestApproverGroupLookupFails(t *testing.T) {
	f := newIXFixture(t, func(o *sl.ActionsOptions) { o.ApproverGroups = []string{"S0MISSING"} })
	if ok, why := f.actions.Approver(t.Context(), ixGroupie); ok || !strings.Contains(why, "could not all be looked up") {
		t.Fatalf("Approver = %v, %q", ok, why)
	}
	if ok, _ := f.actions.Approver(t.Context(), ixApprover); !ok {
		t.Fatal("a listed user is refused when a group look-up fails")
	}
}

// TestVerificationFailures: forged, stale, future, unsigned, replayed,
// oversized requests are refused and nothing is executed.
func TestVerificationFailures(t *testing.T) {
	f := newIXFixture(t)
	a := f.newApproval(t)
	body := blockActionsPayload(ixApprover, sl.ActionApprove, a.ID, f.standIn.responseURL(1))
	forged := f.sign(sl.InteractionsPath, body)
	forged.sig = sl.Sign([]byte("not-the-secret"), forged.ts, []byte(body))
	stale := f.sign(sl.InteractionsPath, body)
	stale.ts = itoa(f.clock.Now().Add(-6 * time.Minute).Unix())
	stale.sig = sl.Sign([]byte(ixSecret), stale.ts, []byte(body))
	future := f.sign(sl.InteractionsPath, body)
	future.ts = itoa(f.clock.Now().Add(6 * time.Minute).Unix())
	future.sig = sl.Sign([]byte(ixSecret), future.ts, []byte(body))
	tampered := f.sign(sl.InteractionsPath, body)
	tampered.body = strings.Replace(body, "secopsd_approve", "secopsd_deny__", 1)
	unsigned := signedRequest{path: sl.InteractionsPath, body: body}
	big := f.sign(sl.InteractionsPath, body+"&pad="+strings.Repeat("x", sl.DefaultMaxBodyBytes))
	for _, c := range []struct {
		name string
		req  signedRequest
		want int
	}{
		{"forged signature", forged, http.StatusUnauthorized},
		{"stale timestamp", stale, http.StatusUnauthorized},
		{"future timestamp", future, http.StatusUnauthorized},
		{"tampered body", tampered, http.StatusUnauthorized},
		{"unsigned", unsigned, http.StatusUnauthorized},
		{"too large", big, http.StatusRequestEntityTooLarge},
	} {
		if code, _ := f.send(t, c.req); code != c.want {
			t.Errorf("%s: %d, want %d", c.name, code, c.want)
		}
	}
	if got := f.approval(t, a.ID); got.Status != incident.ApprovalPending || f.approvals.calls.Load() != 0 || len(f.standIn.posted()) != 0 {
		t.Fatalf("a refused request had an effect: %+v, %d decisions, %d replies", got, f.approvals.calls.Load(), len(f.standIn.posted()))
	}

	// The genuine request passes once; its replay is refused (409) and
	// does nothing.
	genuine := f.sign(sl.InteractionsPath, body)
	if code, out := f.send(t, genuine); code != http.StatusOK {
		t.Fatalf("genuine: %d %s", code, out)
	}
	if code, _ := f.send(t, genuine); code != http.StatusConflict {
		t.Fatalf("replay: %d, want 409", code)
	}
	if n := f.approvals.calls.Load(); n != 1 || len(f.standIn.posted()) != 1 {
		t.Fatalf("after a replay: %d decisions, %d replies; want 1 and 1", n, len(f.standIn.posted()))
	}
	// A replayed command is refused too.
	cmd := f.sign(sl.CommandsPath, commandForm(ixApprover, "ack "+itoa(a.IncidentID), f.standIn.responseURL(9)))
	if code, _ := f.send(t, cmd); code != http.StatusOK {
		t.Fatalf("command: %d", code)
	}
	if code, _ := f.send(t, cmd); code != http.StatusConflict {
		t.Fatalf("replayed command: %d, want 409", code)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestHandlerRoutes: wrong method, wrong content type, unknown path,
// missing payload.
func TestHandlerRoutes(t *testing.T) {
	f := newIXFixture(t)
	resp, err := http.Get(f.srv.URL + sl.InteractionsPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+sl.CommandsPath, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: %d", resp.StatusCode)
	}
	if code, _ := f.send(t, f.sign("/slack/other", "a=b")); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
	if code, _ := f.send(t, f.sign(sl.InteractionsPath, "nopayload=1")); code != http.StatusBadRequest {
		t.Errorf("no payload: %d", code)
	}
	if code, _ := f.send(t, f.sign(sl.InteractionsPath, url.Values{"payload": {"{not json"}}.Encode())); code != http.StatusBadRequest {
		t.Errorf("bad payload: %d", code)
	}
}

// TestResponseURLOnlyAllowedHosts: a response URL elsewhere than allowed is
// never posted to; the reply goes through chat.postEphemeral instead.
func TestResponseURLOnlyAllowedHosts(t *testing.T) {
	f := newIXFixture(t, func(o *sl.ActionsOptions) { o.ResponseURLAllowed = nil }) // hooks.slack.com only
	a := f.newApproval(t)
	f.click(t, ixStranger, sl.ActionApprove, a.ID, 1)
	if n := len(f.standIn.posted()); n != 0 {
		t.Fatalf("posted to a response URL outside hooks.slack.com: %d", n)
	}
	eph := f.standIn.callsOf("chat.postEphemeral")
	if len(eph) != 1 || eph[0].Form.Get("channel") != ixChannel || eph[0].Form.Get("user") != ixStranger {
		t.Fatalf("chat.postEphemeral calls: %+v", eph)
	}
	if !strings.Contains(eph[0].Form.Get("blocks"), "You may not approve") {
		t.Fatalf("ephemeral blocks: %s", eph[0].Form.Get("blocks"))
	}
}

// TestIgnoredInteractions: other interaction types and other actions do
// nothing.
func TestIgnoredInteractions(t *testing.T) {
	f := newIXFixture(t)
	a := f.newApproval(t)
	other := strings.Replace(blockActionsPayload(ixApprover, sl.ActionApprove, a.ID, f.standIn.responseURL(1)), "secopsd_approve", "something_else", 1)
	f.send(t, f.sign(sl.InteractionsPath, other))
	shortcut := strings.Replace(blockActionsPayload(ixApprover, sl.ActionApprove, a.ID, f.standIn.responseURL(1)), "block_actions", "shortcut", 1)
	f.send(t, f.sign(sl.InteractionsPath, shortcut))
	mismatch := strings.Replace(blockActionsPayload(ixApprover, sl.ActionApprove, a.ID, f.standIn.responseURL(1)),
		url.QueryEscape(`"block_id":"secopsd_approval_`+itoa(a.ID)), url.QueryEscape(`"block_id":"secopsd_approval_`+itoa(a.ID+1000)), 1)
	f.send(t, f.sign(sl.InteractionsPath, mismatch))
	if got := f.approval(t, a.ID); got.Status != incident.ApprovalPending || f.approvals.calls.Load() != 0 {
		t.Fatalf("an ignored interaction decided: %+v", got)
	}
	if !slices.ContainsFunc(f.standIn.posted(), func(r ixResponse) bool {
		return strings.Contains(responseText(r.Body), "does not name an approval request")
	}) {
		t.Fatalf("no warning for a button whose value and block disagree: %+v", f.standIn.posted())
	}
}

// TestSlowDecisionAcknowledgedFirst: when the work takes longer than
// AckWithin, Slack gets its answer in time and the work completes after.
func TestSlowDecisionAcknowledgedFirst(t *testing.T) {
	release := make(chan struct{})
	f := newIXFixture(t, func(o *sl.ActionsOptions) {
		o.AckWithin = 20 * time.Millisecond
		o.Approvals = slowApprovals{inner: o.Approvals, release: release}
	})
	a := f.newApproval(t)
	f.click(t, ixApprover, sl.ActionApprove, a.ID, 1)
	if got := f.approval(t, a.ID); got.Status != incident.ApprovalPending {
		t.Fatalf("decided before release: %+v", got)
	}
	close(release)
	waitFor(t, "the decision", func() bool { return f.approval(t, a.ID).Status == incident.ApprovalApproved })
	waitFor(t, "the confirmation", func() bool { return len(f.standIn.posted()) == 1 })
}

// slowApprovals blocks decisions until release is closed.
type slowApprovals struct {
	inner   sl.ApprovalService
	release chan struct{}
}

func (s slowApprovals) Decide(ctx context.Context, id int64, approve bool, actor, comment string) (incident.Approval, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return incident.Approval{}, ctx.Err()
	}
	return s.inner.Decide(ctx, id, approve, actor, comment)
}

func (s slowApprovals) GetApproval(ctx context.Context, id int64) (incident.Approval, error) {
	return s.inner.GetApproval(ctx, id)
}

func (s slowApprovals) PendingApprovals(ctx context.Context) ([]incident.Approval, error) {
	return s.inner.PendingApprovals(ctx)
}

package slack

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/secopsd/secopsd/internal/secretscan"
)

// How untrusted text reaches Slack. Everything that comes from events and
// the timeline (titles, evidence, attributes, reasons, comments, actors)
// is untrusted: a monitored service or an ingesting application chooses
// it. Before it leaves secopsd each such text
//
//  1. goes through internal/secretscan redaction (the rules used for
//     ingested events), so no recognised credential reaches Slack;
//  2. loses control characters (newlines and tabs kept) and is cut to the
//     size of the field it fills, on a rune boundary;
//  3. has &, < and > replaced by &amp; &lt; &gt;, so it cannot form a
//     mention (<!here>, <@U…>, <!subteam^S…>), a link (<http://…|…>) or a
//     channel reference;
//  4. is placed only in plain_text objects (header, section text and
//     fields), where Slack applies no mrkdwn, so *bold*, _italic_,
//     ~strike~ and `code` stay literal characters. The top-level fallback
//     text (shown in notifications) is sent with mrkdwn disabled for the
//     same reason.
//
// mrkdwn is used only for text secopsd writes itself: the mention of a
// route and links built from the configured ui_url and incident ids.

// sanitizer makes untrusted text safe for Slack.
type sanitizer struct {
	scanner *secretscan.Scanner
}

func newSanitizer() sanitizer {
	return sanitizer{scanner: secretscan.NewScanner(secretscan.DefaultRules())}
}

// text returns s redacted, without control characters, cut to at most
// max runes (before escaping) and escaped.
func (z sanitizer) text(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if z.scanner != nil {
		s, _ = z.scanner.Redact(s)
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
	return escape(truncate(s, max))
}

// line is text on one line: newlines and tabs become spaces.
func (z sanitizer) line(s string, max int) string {
	return strings.Join(strings.Fields(z.text(s, max)), " ")
}

// escape replaces the three characters Slack treats as control sequences.
func escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// truncate cuts s to at most max runes, ending with "…" when cut.
func truncate(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

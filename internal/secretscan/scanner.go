// Package secretscan finds leaked credentials in text — API keys, tokens,
// private keys, credential-like assignments — and redacts them. It is used
// by the secrets monitor to scan HTTP responses and by the SIEM to redact
// secrets from ingested events.
//
// A Scanner is built from rules (DefaultRules, or any other set) and is
// safe for concurrent use. It never returns a secret: a Match carries the
// secret's byte offsets in the scanned input, and a fingerprint (a short
// SHA-256 prefix) to tell secrets apart. The package imports only the
// standard library.
package secretscan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Match is one secret found in the scanned input.
type Match struct {
	// RuleID is the ID of the rule that found the secret.
	RuleID string
	// Severity is that rule's severity.
	Severity Severity
	// Start and End are the byte offsets of the secret in the input:
	// input[Start:End] is the secret.
	Start, End int
	// Line is the 1-based line of the input on which the secret starts.
	Line int
	// Fingerprint tells secrets apart without revealing them: the first 8
	// hex digits of the SHA-256 of the secret.
	Fingerprint string
}

// Scanner finds secrets with a fixed set of rules. The zero value finds
// nothing; build one with NewScanner. It is safe for concurrent use.
type Scanner struct {
	rules []Rule
	// Per rule: ^(?:Regex) if the rule is Anchored; the longest match in
	// bytes, -1 if unbounded; whether Regex starts with \b.
	anchored []*regexp.Regexp
	maxLen   []int
	boundary []bool
	byID     map[string]int
	// keywords finds every rule's keywords in one pass; wordRules maps a
	// keyword's index to the rules that have it.
	keywords  *keywordIndex
	wordRules [][]int
}

// NewScanner returns a scanner for rules, which it copies. Earlier rules
// take priority where the secrets of two rules overlap. It panics if a
// rule has no Regex, an invalid SecretGroup or an empty keyword, if an
// Anchored rule has no keywords, or if two rules share an ID: rule sets are
// fixed at build time.
func NewScanner(rules []Rule) *Scanner {
	n := len(rules)
	s := &Scanner{
		rules:    make([]Rule, n),
		anchored: make([]*regexp.Regexp, n),
		maxLen:   make([]int, n),
		boundary: make([]bool, n),
		byID:     make(map[string]int, n),
	}
	var words [][]byte
	wordAt := map[string]int{}
	for i, r := range rules {
		switch {
		case r.Regex == nil:
			panic(fmt.Sprintf("secretscan: rule %q has no regex", r.ID))
		case r.SecretGroup < 0 || r.SecretGroup > r.Regex.NumSubexp():
			panic(fmt.Sprintf("secretscan: rule %q: secret group %d out of range", r.ID, r.SecretGroup))
		case r.Anchored && len(r.Keywords) == 0:
			panic(fmt.Sprintf("secretscan: rule %q is anchored but has no keywords", r.ID))
		}
		if _, dup := s.byID[r.ID]; dup {
			panic(fmt.Sprintf("secretscan: duplicate rule id %q", r.ID))
		}
		s.rules[i] = r.clone()
		for j, w := range s.rules[i].Stopwords {
			s.rules[i].Stopwords[j] = strings.ToLower(w)
		}
		s.byID[r.ID] = i
		for _, k := range r.Keywords {
			k = strings.ToLower(k)
			if k == "" {
				panic(fmt.Sprintf("secretscan: rule %q has an empty keyword", r.ID))
			}
			w, ok := wordAt[k]
			if !ok {
				w = len(words)
				wordAt[k] = w
				words = append(words, []byte(k))
				s.wordRules = append(s.wordRules, nil)
			}
			if !slices.Contains(s.wordRules[w], i) {
				s.wordRules[w] = append(s.wordRules[w], i)
			}
		}
		parsed, err := syntax.Parse(r.Regex.String(), syntax.Perl)
		if err != nil {
			panic(fmt.Sprintf("secretscan: rule %q: %v", r.ID, err)) // cannot happen: it compiled
		}
		s.maxLen[i] = maxLen(parsed)
		if r.Anchored {
			s.anchored[i] = regexp.MustCompile(`^(?:` + r.Regex.String() + `)`)
			s.boundary[i] = startsWithWordBoundary(parsed)
		}
	}
	if len(words) > 0 {
		s.keywords = newKeywordIndex(words)
	}
	return s
}

// Rules returns a copy of the scanner's rules, in priority order.
func (s *Scanner) Rules() []Rule {
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.clone()
	}
	return out
}

// Rule returns the rule with the given ID.
func (s *Scanner) Rule(id string) (Rule, bool) {
	i, ok := s.byID[id]
	if !ok {
		return Rule{}, false
	}
	return s.rules[i].clone(), true
}

// candidate is a secret found by one rule, before overlaps are resolved.
type candidate struct {
	rule       int
	start, end int
}

// Scan returns the secrets in data, ordered by offset. Where the secrets
// of several rules overlap, only the highest-priority rule's is returned,
// so each secret is reported once.
func (s *Scanner) Scan(data []byte) []Match {
	cands := s.candidates(data)
	if len(cands) == 0 {
		return nil
	}
	kept := resolveOverlaps(cands)
	matches := make([]Match, len(kept))
	line, at := 1, 0
	for i, c := range kept {
		line += bytes.Count(data[at:c.start], []byte{'\n'})
		at = c.start
		r := &s.rules[c.rule]
		matches[i] = Match{
			RuleID:      r.ID,
			Severity:    r.Severity,
			Start:       c.start,
			End:         c.end,
			Line:        line,
			Fingerprint: Fingerprint(data[c.start:c.end]),
		}
	}
	return matches
}

// resolveOverlaps returns the candidates to report, sorted by start and
// pairwise disjoint: within each run of overlapping candidates, they are
// kept in priority order (rule, then start), dropping any that overlaps
// one already kept.
func resolveOverlaps(cands []candidate) []candidate {
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return a.rule - b.rule
	})
	kept := make([]candidate, 0, len(cands))
	for i := 0; i < len(cands); {
		j, end := i+1, cands[i].end
		for ; j < len(cands) && cands[j].start < end; j++ {
			end = max(end, cands[j].end)
		}
		run := cands[i:j]
		i = j
		if len(run) == 1 {
			kept = append(kept, run[0])
			continue
		}
		slices.SortFunc(run, func(a, b candidate) int {
			if a.rule != b.rule {
				return a.rule - b.rule
			}
			return a.start - b.start
		})
		first := len(kept)
		for _, c := range run {
			if !slices.ContainsFunc(kept[first:], func(k candidate) bool { return k.start < c.end && c.start < k.end }) {
				kept = append(kept, c)
			}
		}
		slices.SortFunc(kept[first:], func(a, b candidate) int { return a.start - b.start })
	}
	return kept
}

// Redact returns str with every secret replaced by "[REDACTED:<rule-id>]"
// and whether it replaced any. Overlapping secrets of several rules are
// replaced as one, named after the highest-priority rule, so that no part
// of any of them remains.
func (s *Scanner) Redact(str string) (string, bool) {
	data := []byte(str)
	cands := s.candidates(data)
	if len(cands) == 0 {
		return str, false
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return a.rule - b.rule
	})
	var b strings.Builder
	b.Grow(len(str))
	at := 0
	for i := 0; i < len(cands); {
		span := cands[i]
		j := i + 1
		for ; j < len(cands) && cands[j].start < span.end; j++ {
			span.end = max(span.end, cands[j].end)
			span.rule = min(span.rule, cands[j].rule)
		}
		b.WriteString(str[at:span.start])
		b.WriteString("[REDACTED:")
		b.WriteString(s.rules[span.rule].ID)
		b.WriteString("]")
		at = span.end
		i = j
	}
	b.WriteString(str[at:])
	return b.String(), true
}

// candidates returns every secret that some rule finds in data, in no
// particular order.
func (s *Scanner) candidates(data []byte) []candidate {
	if len(data) == 0 || len(s.rules) == 0 {
		return nil
	}
	// One pass finds every keyword: which rules may match at all, and
	// where anchored rules may match.
	present := make([]bool, len(s.rules))
	hits := make([][]int, len(s.rules))
	if s.keywords != nil {
		s.keywords.find(data, func(word, start int) {
			for _, i := range s.wordRules[word] {
				present[i] = true
				if s.anchored[i] != nil {
					hits[i] = append(hits[i], start)
				}
			}
		})
	}
	var out []candidate
	for i := range s.rules {
		r := &s.rules[i]
		if len(r.Keywords) > 0 && !present[i] {
			continue
		}
		// add records the secret of match m if the rule accepts it.
		add := func(m []int) bool {
			start, end := m[2*r.SecretGroup], m[2*r.SecretGroup+1]
			if start < 0 || start == end {
				return false
			}
			if !r.accept(data[start:end], data[wordStart(data, m[0]):start]) {
				return false
			}
			out = append(out, candidate{rule: i, start: start, end: end})
			return true
		}
		if s.anchored[i] == nil {
			for _, m := range r.Regex.FindAllSubmatchIndex(data, -1) {
				add(m)
			}
			continue
		}
		// Try the anchored regex where each keyword starts, skipping
		// keywords within the previous accepted match.
		slices.Sort(hits[i])
		next := 0
		for _, at := range slices.Compact(hits[i]) {
			if at < next {
				continue
			}
			if s.boundary[i] && at > 0 && syntax.IsWordChar(rune(data[at-1])) {
				continue // \b fails: the keyword is inside a word
			}
			// Give the regex no more than its longest match (and one
			// byte to look at after it), so that Go's regexp may use its
			// faster engine for short inputs. A match that ends where
			// the cut does is a match only of the cut input.
			in := data[at:]
			cut := false
			if n := s.maxLen[i]; n >= 0 && n+1 < len(in) {
				in, cut = in[:n+1], true
			}
			m := s.anchored[i].FindSubmatchIndex(in)
			if m == nil || cut && m[1] == len(in) {
				continue
			}
			for j := range m {
				if m[j] >= 0 {
					m[j] += at
				}
			}
			if add(m) {
				next = m[1]
			}
		}
	}
	return out
}

// startsWithWordBoundary reports whether every match of re begins with \b.
func startsWithWordBoundary(re *syntax.Regexp) bool {
	for {
		switch re.Op {
		case syntax.OpWordBoundary:
			return true
		case syntax.OpCapture:
			re = re.Sub[0]
		case syntax.OpConcat:
			if len(re.Sub) == 0 {
				return false
			}
			re = re.Sub[0]
		default:
			return false
		}
	}
}

// maxLen returns the most bytes a match of re can span, or -1 if that is
// unbounded.
func maxLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpNoMatch, syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine,
		syntax.OpBeginText, syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += runeMaxLen(r, re.Flags&syntax.FoldCase != 0)
		}
		return n
	case syntax.OpCharClass:
		n := 0
		for i := 1; i < len(re.Rune); i += 2 {
			n = max(n, utf8.RuneLen(re.Rune[i]))
		}
		return n
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax
	case syntax.OpCapture, syntax.OpQuest:
		return maxLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return -1
	case syntax.OpRepeat:
		sub := maxLen(re.Sub[0])
		if re.Max < 0 || sub < 0 {
			return -1
		}
		return re.Max * sub
	case syntax.OpConcat, syntax.OpAlternate:
		total := 0
		for _, sub := range re.Sub {
			n := maxLen(sub)
			if n < 0 {
				return -1
			}
			if re.Op == syntax.OpConcat {
				total += n
			} else {
				total = max(total, n)
			}
		}
		return total
	}
	return -1
}

// runeMaxLen is the UTF-8 length of r, or with fold of the longest rune
// that r matches case-insensitively (k also matches the 3-byte Kelvin sign).
func runeMaxLen(r rune, fold bool) int {
	n := utf8.RuneLen(r)
	if n < 0 {
		n = utf8.UTFMax
	}
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			n = max(n, utf8.RuneLen(f))
		}
	}
	return n
}

// maxWordBack bounds how far wordStart looks back.
const maxWordBack = 64

// wordStart returns the offset of the start of the word that contains
// data[at] (letters, digits, '_', '.', '-'), at most maxWordBack bytes
// before at.
func wordStart(data []byte, at int) int {
	lo := max(0, at-maxWordBack)
	for at > lo && isWordByte(data[at-1]) {
		at--
	}
	return at
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}

// accept applies r's filters and allowlists to a secret and the context
// before it (see AllowMatch).
func (r *Rule) accept(secret, context []byte) bool {
	if r.Entropy > 0 && Entropy(secret) < r.Entropy {
		return false
	}
	if r.RequireDigit && !bytes.ContainsAny(secret, "0123456789") {
		return false
	}
	if len(r.Stopwords) > 0 {
		ls := asciiLower(secret)
		for _, w := range r.Stopwords {
			if bytes.Contains(ls, []byte(w)) {
				return false
			}
		}
	}
	for _, a := range r.AllowSecret {
		if a.Match(secret) {
			return false
		}
	}
	for _, a := range r.AllowMatch {
		if a.Match(context) {
			return false
		}
	}
	if r.Verify != nil && !r.Verify(secret) {
		return false
	}
	return true
}

// Entropy returns the Shannon entropy of b in bits per byte: 0 for a
// repeated byte, 8 at most.
func Entropy(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	n := float64(len(b))
	var h float64
	for _, c := range counts {
		if c == 0 {
			continue
		}
		p := float64(c) / n
		h -= p * math.Log2(p)
	}
	return h
}

// Fingerprint returns the first 8 hex digits of the SHA-256 of secret: a
// name for the secret that does not reveal it.
func Fingerprint(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:4])
}

// asciiLower returns a copy of b with ASCII letters in lower case; other
// bytes, including those of multi-byte characters, are unchanged, so that
// offsets stay the same.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

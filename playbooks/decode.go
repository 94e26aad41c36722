package playbooks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The decoder walks the yaml.Node tree by hand, so that every problem
// names the file, the line and the key path (steps[2].timeout), unknown
// and duplicate keys are errors, and a file's problems are all reported at
// once.

// decoder holds the state of decoding one playbook file.
type decoder struct {
	problems
	// lines maps each decoded key path to the line it was written on, for
	// the cross-checks that run after decoding.
	lines map[string]int
}

func newDecoder(file string) *decoder {
	return &decoder{problems: problems{file: file}, lines: map[string]int{}}
}

// syntaxLine extracts the line from a yaml.v3 parser message.
var syntaxLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// document parses data and returns its root node, nil for an empty
// document. It records an ErrSyntax problem and returns false when data is
// not exactly one well-formed YAML document.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		d.syntax(err)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntax(err)
		return nil, false
	default:
		d.add(next.Line, "", ErrSyntax, "more than one YAML document (one playbook per file; remove the extra ---)")
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, true
	}
	return doc.Content[0], true
}

// syntax records a yaml.v3 parse error, keeping its line number.
func (d *decoder) syntax(err error) {
	msg := err.Error()
	line := 0
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Err: fmt.Errorf("%w: %w", ErrSyntax, err), Msg: "invalid YAML: " + msg})
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an explicit or implicit YAML null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return quote(n.Value)
	default:
		return "an unexpected YAML node"
	}
}

// quote quotes a value for a message, shortened to keep the line readable.
func quote(s string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(s) > maxRunes {
		s = string([]rune(s)[:maxRunes]) + "…"
	}
	return strconv.Quote(s)
}

// joinPath appends a mapping key to a key path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// indexPath appends a list index to a key path.
func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// plainKey matches map keys that need no quoting in a key path.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// mapKeyPath appends a key of a free-form map (headers) to a key path,
// quoting keys that contain dots, brackets or spaces.
func mapKeyPath(path, key string) string {
	if plainKey.MatchString(key) {
		return joinPath(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// typeError records a value of the wrong kind.
func (d *decoder) typeError(n *yaml.Node, path, want string) {
	d.add(n.Line, path, ErrType, "expected "+want+", got "+describe(n))
}

// entry is one key and value of a mapping.
type entry struct {
	name     string
	key, val *yaml.Node
}

// mapping lists the entries of mapping n, reporting a node that is not a
// mapping, non-string keys, merge keys and duplicate keys. Keys not in
// known (when known is not nil) are reported as unknown with unknownMsg.
func (d *decoder) mapping(n *yaml.Node, path string, known []string, unknownMsg func(key string) string) ([]entry, bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.typeError(n, path, "a mapping")
		return nil, false
	}
	var out []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(k.Line, path, ErrType, "expected a string as key, got "+describe(k))
			continue
		}
		kp := joinPath(path, k.Value)
		if k.ShortTag() == "!!merge" {
			d.add(k.Line, path, ErrUnknownKey, "merge keys (<<) are not supported in playbooks; write the keys out")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.add(k.Line, kp, ErrDuplicateKey, fmt.Sprintf("duplicate key (first defined on line %d)", first))
			continue
		}
		seen[k.Value] = k.Line
		if known != nil && !contains(known, k.Value) {
			d.add(k.Line, kp, ErrUnknownKey, unknownMsg(k.Value))
			continue
		}
		d.lines[kp] = k.Line
		out = append(out, entry{name: k.Value, key: k, val: v})
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str decodes a string scalar. Numbers and booleans written where a string
// belongs are taken as their text, as YAML authors expect.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.typeError(n, path, "a string")
		return "", false
	}
	return n.Value, true
}

// boolean decodes true or false.
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		}
	}
	d.typeError(n, path, "true or false")
	return false, false
}

// integer decodes a whole number.
func (d *decoder) integer(n *yaml.Node, path string) (int, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 32); err == nil {
			return int(i), true
		}
	}
	d.typeError(n, path, "an integer")
	return 0, false
}

// duration decodes a Go duration such as 30s, 5m or 1h30m.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.typeError(n, path, "a duration like 30s")
		return 0, false
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		d.add(n.Line, path, ErrDuration, "expected a duration like 30s, 5m or 1h30m, got "+quote(n.Value))
		return 0, false
	}
	return v, true
}

// maxListLen bounds every list in a playbook, so that a hostile file
// cannot make loading expensive.
const maxListLen = 100

// list returns the items of sequence n.
func (d *decoder) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.typeError(n, path, "a list")
		return nil, false
	}
	if len(n.Content) > maxListLen {
		d.add(n.Line, path, ErrInvalid, fmt.Sprintf("at most %d items, got %d", maxListLen, len(n.Content)))
		return nil, false
	}
	return n.Content, true
}

// strings decodes a list of non-empty strings, each listed once.
func (d *decoder) strs(n *yaml.Node, path string) ([]string, bool) {
	items, ok := d.list(n, path)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	first := map[string]int{}
	for i, item := range items {
		ip := indexPath(path, i)
		s, ok := d.str(item, ip)
		if !ok {
			continue
		}
		if s == "" {
			d.add(resolve(item).Line, ip, ErrMissing, "empty string")
			continue
		}
		if at, dup := first[s]; dup {
			d.add(resolve(item).Line, ip, ErrInvalid, fmt.Sprintf("%s is listed twice (first as item %d)", quote(s), at))
			continue
		}
		first[s] = i
		d.lines[ip] = resolve(item).Line
		out = append(out, s)
	}
	return out, true
}

// unknownKeyMessage explains an unknown key: what it might be (belongsTo,
// else the closest valid key) and the keys that are valid for owner.
func unknownKeyMessage(key string, valid []string, owner, belongsTo string) string {
	var b strings.Builder
	b.WriteString("unknown key")
	if belongsTo != "" {
		b.WriteString("; it belongs to " + belongsTo)
	} else if s := closest(key, valid); s != "" {
		b.WriteString("; did you mean " + strconv.Quote(s) + "?")
	}
	b.WriteString(" (valid keys")
	if owner != "" {
		b.WriteString(" for " + owner)
	}
	b.WriteString(": " + strings.Join(valid, ", ") + ")")
	return b.String()
}

// closest returns the valid key within a small edit distance of key, or "".
func closest(key string, valid []string) string {
	best, bestDist := "", 3
	for _, v := range valid {
		if dist := editDistance(key, v); dist < bestDist {
			best, bestDist = v, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

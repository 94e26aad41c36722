package playbooks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/secopsd/secopsd/internal/yamlnode"
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

// document parses data and returns its root node, nil for an empty
// document. It records an ErrSyntax problem and returns false when data is
// not exactly one well-formed YAML document.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	root, err := yamlnode.Document(data, d.file, "more than one YAML document (one playbook per file; remove the extra ---)")
	if err != nil {
		d.errs = append(d.errs, err)
		return nil, false
	}
	return root, true
}

// Short names for the yamlnode helpers that the package's files share.

func resolve(n *yaml.Node) *yaml.Node     { return yamlnode.Resolve(n) }
func isNull(n *yaml.Node) bool            { return yamlnode.IsNull(n) }
func quote(s string) string               { return yamlnode.Quote(s) }
func joinPath(path, key string) string    { return yamlnode.JoinPath(path, key) }
func indexPath(path string, i int) string { return yamlnode.IndexPath(path, i) }
func mapKeyPath(path, key string) string  { return yamlnode.MapKeyPath(path, key) }
func unknownKeyMessage(key string, valid []string, owner, belongsTo string) string {
	return yamlnode.UnknownKeyMessage(key, valid, owner, belongsTo)
}

// typeError records a value of the wrong kind.
func (d *decoder) typeError(n *yaml.Node, path, want string) {
	d.add(n.Line, path, ErrType, yamlnode.Expected(want, n))
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
			d.add(k.Line, path, ErrType, yamlnode.Expected("a string as key", k))
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
		if b, ok := yamlnode.ParseBool(n.Value); ok {
			return b, true
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

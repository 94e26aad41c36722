package yamlnode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// syntaxLine extracts the line from a yaml.v3 parser message.
var syntaxLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// Document parses data, which must be at most one YAML document, and
// returns its root node: nil for an empty document. Malformed YAML is an
// *Error wrapping ErrSyntax (and the parser's error) on the parser's line;
// a second document is an *Error wrapping ErrSyntax on its line whose
// message is second. file names the file in the errors.
func Document(data []byte, file, second string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(file, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(file, err)
	default:
		return nil, &Error{File: file, Line: next.Line, Err: ErrSyntax, Msg: second}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// syntaxError locates a yaml.v3 parse error, keeping its line number.
func syntaxError(file string, err error) error {
	msg := err.Error()
	line := 0
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &Error{File: file, Line: line, Err: fmt.Errorf("%w: %w", ErrSyntax, err), Msg: "invalid YAML: " + msg}
}

// Resolve follows aliases to the node they name (at most 100 deep, so that
// a cycle cannot hang the decoder).
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is an explicit or implicit YAML null (~, null or
// nothing).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Describe names what n is, for "expected X, got Y" messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "nothing"
		}
		return Quote(n.Value)
	default:
		return "an unexpected YAML node"
	}
}

// Expected is the message for node n where want belongs: "expected want,
// got <what n is>".
func Expected(want string, n *yaml.Node) string {
	return "expected " + want + ", got " + Describe(n)
}

// Quote quotes a value for a message, shortened to 40 runes to keep the
// line readable.
func Quote(s string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(s) > maxRunes {
		s = string([]rune(s)[:maxRunes]) + "…"
	}
	return strconv.Quote(s)
}

// ParseBool parses the YAML spellings of a boolean that the decoders
// accept: true, True, TRUE, false, False and FALSE. ok is false for
// anything else, "yes" and "on" included.
func ParseBool(s string) (v, ok bool) {
	switch s {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

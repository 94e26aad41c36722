package yamlnode

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yml", Line: 3, Path: "x.y", Msg: "bad\nvalue"}, "a.yml:3: x.y: bad value"},
		{Error{File: "a.yml", Err: ErrSyntax}, "a.yml: invalid yaml"},
		{Error{Line: 2, Path: "x", Msg: "m"}, "line 2: x: m"},
		{Error{Path: "x", Msg: "m"}, "x: m"},
		{Error{Msg: "m"}, "m"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
	cause := &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}
	e := &Error{Err: errors.Join(ErrSyntax, cause)}
	if !errors.Is(e, ErrSyntax) || !errors.Is(e, fs.ErrNotExist) {
		t.Errorf("errors.Is does not see through %v", e)
	}
}

func TestJoinSorted(t *testing.T) {
	if err := JoinSorted(nil); err != nil {
		t.Fatalf("JoinSorted(nil) = %v", err)
	}
	plain := errors.New("plain")
	errs := []error{
		&Error{File: "b.yml", Line: 1, Msg: "b1"},
		&Error{File: "a.yml", Line: 7, Msg: "a7-first"},
		&Error{File: "a.yml", Line: 2, Msg: "a2"},
		&Error{File: "a.yml", Line: 7, Msg: "a7-second"},
		plain,
	}
	err := JoinSorted(errs)
	want := "plain\na.yml:2: a2\na.yml:7: a7-first\na.yml:7: a7-second\nb.yml:1: b1"
	if err == nil || err.Error() != want {
		t.Fatalf("JoinSorted = %q, want %q", err, want)
	}
	if !errors.Is(err, plain) {
		t.Error("joined error does not match its parts")
	}
}

func TestDocument(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n"} {
		root, err := Document([]byte(src), "f.yml", "second")
		if err != nil || root != nil {
			t.Errorf("Document(%q) = %v, %v; want nil, nil", src, root, err)
		}
	}
	if root, err := Document([]byte("---\n"), "f.yml", "second"); err != nil || root == nil || !IsNull(root) {
		t.Errorf("Document(---) = %v, %v; want a null root", root, err)
	}

	root, err := Document([]byte("a: 1\nb: [x]\n"), "f.yml", "second")
	if err != nil {
		t.Fatal(err)
	}
	if root.Kind != yaml.MappingNode || len(root.Content) != 4 || root.Content[2].Line != 2 {
		t.Errorf("root = %+v", root)
	}

	tests := []struct {
		src, msg string
		line     int
		parser   bool // the parser's error is wrapped too
	}{
		{"a: 1\n---\nb: 2\n", "f.yml:2: two docs", 2, false}, // the line of the second ---
		{"a: 1\nb: [1, 2\n", "f.yml:", 0, true},
		{"a: 1\n b: 2\nc: 3\n", "f.yml:2: invalid YAML: ", 2, true},
		{"a: 1\n---\nb: [\n", "f.yml:", 0, true},
	}
	for _, tc := range tests {
		_, err := Document([]byte(tc.src), "f.yml", "two docs")
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Document(%q) = %v, want an *Error", tc.src, err)
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("Document(%q) = %v, not ErrSyntax", tc.src, err)
		}
		if tc.line != 0 && e.Line != tc.line {
			t.Errorf("Document(%q): line %d, want %d", tc.src, e.Line, tc.line)
		}
		if tc.line == 0 && e.Line < 1 {
			t.Errorf("Document(%q): line %d, want the parser's line", tc.src, e.Line)
		}
		if !strings.HasPrefix(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Document(%q) = %q, want one line starting %q", tc.src, err, tc.msg)
		}
		if tc.parser && (e.Err == ErrSyntax || !strings.HasPrefix(e.Msg, "invalid YAML: ")) {
			t.Errorf("Document(%q): cause %v, message %q; want the parser's error", tc.src, e.Err, e.Msg)
		}
		if strings.Contains(e.Msg, "yaml: line") {
			t.Errorf("Document(%q): message %q repeats the parser's line prefix", tc.src, e.Msg)
		}
	}
}

func TestResolveAndDescribe(t *testing.T) {
	root, err := Document([]byte("base: &b {x: 1}\nref: *b\nlist: [1]\nnull1: ~\nnull2:\ns: "+strings.Repeat("é", 45)+"\n"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		nodes[root.Content[i].Value] = root.Content[i+1]
	}
	if r := Resolve(nodes["ref"]); r != nodes["base"] {
		t.Errorf("Resolve(alias) = %+v, want the anchored mapping", r)
	}
	if r := Resolve(nodes["base"]); r != nodes["base"] {
		t.Error("Resolve changed a node that is not an alias")
	}
	cycle := &yaml.Node{Kind: yaml.AliasNode}
	cycle.Alias = cycle
	if Resolve(cycle) != cycle {
		t.Error("Resolve of a self-alias did not stop")
	}
	if !IsNull(nodes["null1"]) || !IsNull(nodes["null2"]) || IsNull(nodes["list"]) {
		t.Error("IsNull")
	}
	want := map[string]string{
		"base":  "a mapping",
		"ref":   "an unexpected YAML node",
		"list":  "a list",
		"null1": "nothing",
		"s":     `"` + strings.Repeat("é", 40) + `…"`,
	}
	for k, w := range want {
		if got := Describe(nodes[k]); got != w {
			t.Errorf("Describe(%s) = %q, want %q", k, got, w)
		}
	}
	if got := Expected("an integer", nodes["list"]); got != "expected an integer, got a list" {
		t.Errorf("Expected = %q", got)
	}
	if got := Quote("a\"b\n"); got != `"a\"b\n"` {
		t.Errorf("Quote = %s", got)
	}
}

func TestParseBool(t *testing.T) {
	for s, want := range map[string]bool{"true": true, "True": true, "TRUE": true, "false": false, "False": false, "FALSE": false} {
		if v, ok := ParseBool(s); !ok || v != want {
			t.Errorf("ParseBool(%q) = %v, %v", s, v, ok)
		}
	}
	for _, s := range []string{"yes", "on", "1", "tRUE", ""} {
		if _, ok := ParseBool(s); ok {
			t.Errorf("ParseBool(%q) accepted", s)
		}
	}
}

func TestPaths(t *testing.T) {
	tests := []struct{ got, want string }{
		{JoinPath("", "a"), "a"},
		{JoinPath("a", "b"), "a.b"},
		{IndexPath("steps", 2), "steps[2]"},
		{MapKeyPath("headers", "X-Token_1"), "headers.X-Token_1"},
		{MapKeyPath("headers", "X Token"), `headers["X Token"]`},
		{MapKeyPath("labels", "a.b"), `labels["a.b"]`},
		{MapKeyPath("", "a"), "a"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestUnknownKeyMessage(t *testing.T) {
	valid := []string{"name", "type", "url"}
	tests := []struct{ key, owner, belongsTo, want string }{
		{"nmae", "an http monitor", "", `unknown key; did you mean "name"? (valid keys for an http monitor: name, type, url)`},
		{"min_version", "an http monitor", "tls monitors", `unknown key; it belongs to tls monitors (valid keys for an http monitor: name, type, url)`},
		{"zzzzzz", "", "", `unknown key (valid keys: name, type, url)`},
	}
	for _, tc := range tests {
		if got := UnknownKeyMessage(tc.key, valid, tc.owner, tc.belongsTo); got != tc.want {
			t.Errorf("UnknownKeyMessage(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	valid := []string{"timeout", "retries", "url", "urls"}
	tests := map[string]string{
		"timout":                  "timeout",
		"retires":                 "retries", // a transposition is two edits
		"ur":                      "url",     // first of the equally near
		"urlz":                    "url",
		"method":                  "",
		"":                        "",
		strings.Repeat("a", 1000): "",
	}
	for key, want := range tests {
		if got := Closest(key, valid); got != want {
			t.Errorf("Closest(%.20q) = %q, want %q", key, got, want)
		}
	}
	long := strings.Repeat("k", maxEditLen+1)
	if got := Closest(long+"x", []string{long}); got != "" {
		t.Errorf("Closest compared keys longer than %d bytes: %q", maxEditLen, got)
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSubstitute(t *testing.T) {
	env := map[string]string{"TOKEN": "tok", "PORT": "9191", "EMPTY": ""}
	errLookup := errors.New("lookup failed")
	value := func(name string) (string, error) {
		if v, ok := env[name]; ok {
			return v, nil
		}
		return "", errLookup
	}
	tests := []struct {
		in, want string
		at       int
		err      string
	}{
		{"plain", "plain", 0, ""},
		{"${TOKEN}", "tok", 0, ""},
		{"a-${TOKEN}-${PORT}", "a-tok-9191", 0, ""},
		{"x${EMPTY}y", "xy", 0, ""},
		{"$$", "$", 0, ""},
		{"$${TOKEN}", "${TOKEN}", 0, ""},
		{"$$$${X}", "$${X}", 0, ""},
		{"cost $5 $", "cost $5 $", 0, ""},
		{"$NAME", "$NAME", 0, ""},
		{"ok ${NOPE}", "", 3, "lookup failed"},
		{"ab${", "", 2, "unterminated ${"},
		{"${TOKEN} ${1BAD}", "", 9, "invalid environment variable reference ${1BAD}"},
		{"${}", "", 0, "invalid environment variable reference ${}"},
	}
	for _, tc := range tests {
		got, at, err := Substitute(tc.in, value)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || at != tc.at {
				t.Errorf("Substitute(%q) = %q, %d, %v; want error %q at %d", tc.in, got, at, err, tc.err, tc.at)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Substitute(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, _, err := Substitute("${NOPE}", value); !errors.Is(err, errLookup) {
		t.Errorf("value's error is not returned as is: %v", err)
	}
	called := false
	if _, _, err := Substitute("${9}", func(string) (string, error) { called = true; return "", nil }); err == nil || called {
		t.Errorf("value called for a malformed name (err %v)", err)
	}
}

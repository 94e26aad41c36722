package config

import (
	"reflect"
	"strings"
	"testing"
)

func httpJSONInvalid() map[string]typeInvalidCase {
	return map[string]typeInvalidCase{
		"invalid-http-json-path-missing.yml":  {ErrMissing, 7, "monitors[0].expect.json[0].path"},
		"invalid-http-json-path-syntax.yml":   {ErrInvalid, 9, "monitors[0].expect.json[1].path"},
		"invalid-http-json-path-wildcard.yml": {ErrInvalid, 7, "monitors[0].expect.json[0].path"},
		"invalid-http-json-no-check.yml":      {ErrMissing, 7, "monitors[0].expect.json[0]"},
		"invalid-http-json-contradiction.yml": {ErrInvalid, 9, "monitors[0].expect.json[0].exists"},
		"invalid-http-json-head.yml":          {ErrInvalid, 7, "monitors[0].expect.json"},
		"invalid-http-json-exists-type.yml":   {ErrType, 8, "monitors[0].expect.json[0].exists"},
		"invalid-http-json-unknown-key.yml":   {ErrUnknownKey, 8, "monitors[0].expect.json[0].equal"},
	}
}

func TestHTTPJSONInvalidConfigs(t *testing.T) {
	runTypeInvalid(t, httpJSONInvalid())
}

func TestHTTPJSONDecode(t *testing.T) {
	cfg, err := parse([]byte(`monitors:
  - name: api
    type: http
    url: https://api.example.com/health
    expect:
      json:
        - path: $.status
          equals: ok
        - path: $.count
          equals: 3
        - path: $.ready
          equals: true
        - path: $.empty
          equals: ""
        - path: $.errors
          exists: false
        - path: $["app.version"]
          exists: true
          equals: "1.2"
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	boolp := func(b bool) *bool { return &b }
	want := []HTTPJSONCondition{
		{Path: "$.status", Equals: str("ok")},
		{Path: "$.count", Equals: str("3")},
		{Path: "$.ready", Equals: str("true")},
		{Path: "$.empty", Equals: str("")},
		{Path: "$.errors", Exists: boolp(false)},
		{Path: `$["app.version"]`, Exists: boolp(true), Equals: str("1.2")},
	}
	if got := cfg.Monitors[0].HTTP.Expect.JSON; !reflect.DeepEqual(got, want) {
		t.Errorf("json = %+v, want %+v", got, want)
	}
}

func TestParseJSONPath(t *testing.T) {
	member := func(k string) JSONPathStep { return JSONPathStep{Key: k, Index: -1} }
	index := func(i int) JSONPathStep { return JSONPathStep{Index: i} }
	good := []struct {
		in   string
		want JSONPath
		str  string // String(), if not in
	}{
		{"$", JSONPath{}, ""},
		{"$.status", JSONPath{member("status")}, ""},
		{"$.a.b[0].c", JSONPath{member("a"), member("b"), index(0), member("c")}, ""},
		{"$[0]", JSONPath{index(0)}, ""},
		{"$[12][3]", JSONPath{index(12), index(3)}, ""},
		{`$["app.version"]`, JSONPath{member("app.version")}, ""},
		{`$['a[0]']`, JSONPath{member("a[0]")}, `$["a[0]"]`},
		{`$["plain"]`, JSONPath{member("plain")}, "$.plain"},
		{`$[""]`, JSONPath{member("")}, ""},
		{`$['say "hi"']`, JSONPath{member(`say "hi"`)}, ""},
		{"$.with space.x-y", JSONPath{member("with space"), member("x-y")}, ""},
		{"$.ünï", JSONPath{member("ünï")}, ""},
	}
	for _, tc := range good {
		p, err := ParseJSONPath(tc.in)
		if err != nil {
			t.Errorf("ParseJSONPath(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(p, tc.want) {
			t.Errorf("ParseJSONPath(%q) = %+v, want %+v", tc.in, p, tc.want)
		}
		wantStr := tc.str
		if wantStr == "" {
			wantStr = tc.in
		}
		if p.String() != wantStr {
			t.Errorf("ParseJSONPath(%q).String() = %q, want %q", tc.in, p.String(), wantStr)
		}
	}
	bad := map[string]string{
		"":                               `start with "$"`,
		"status":                         `start with "$"`,
		"[BODY].status":                  `start with "$"`,
		"$.":                             "member name",
		"$..a":                           "recursive descent",
		"$.*":                            "wildcards",
		"$[*]":                           "wildcards",
		"$[-1]":                          "negative",
		"$[0:2]":                         "not an array index",
		"$[?(@.a)]":                      "not an array index",
		"$[+1]":                          "not an array index",
		"$[ 1]":                          "not an array index",
		"$[]":                            "not an array index",
		"$[1":                            "unterminated",
		`$["a`:                           "unterminated",
		`$["a"x]`:                        `followed by "]"`,
		"$x":                             "unexpected",
		"$.a]":                           "quote or bracket",
		"$[99999999]":                    "larger than",
		"$[99999999999999999999]":        "not an array index",
		"$." + strings.Repeat("a", 1100): "longer than",
	}
	for in, want := range bad {
		_, err := ParseJSONPath(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseJSONPath(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

// FuzzParseJSONPath checks that a parsed path prints as a path that parses
// back to the same steps.
func FuzzParseJSONPath(f *testing.F) {
	for _, s := range []string{"$", "$.a.b[0].c", `$["a.b"]`, `$['x"y']`, "$[3]", "$.a[1][2]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseJSONPath(s)
		if err != nil {
			return
		}
		q, err := ParseJSONPath(p.String())
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", s, p.String(), err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("%q → %q → %+v, want %+v", s, p.String(), q, p)
		}
	})
}

package monitors

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/secopsd/secopsd/internal/config"
)

func jsonEq(path, want string) config.HTTPJSONCondition {
	return config.HTTPJSONCondition{Path: path, Equals: &want}
}

func jsonExists(path string, exists bool) config.HTTPJSONCondition {
	return config.HTTPJSONCondition{Path: path, Exists: &exists}
}

// jsonServer answers every request with body as application/json.
func jsonServer(t *testing.T, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// healthJSON is a realistic health document that every condition of
// hardenedJSONConditions holds on.
const healthJSON = `{
  "status": "ok",
  "version": "1.4.2",
  "uptime_s": 86400,
  "ratio": 0.5,
  "ready": true,
  "maintenance": null,
  "checks": [
    {"name": "database", "healthy": true, "latency_ms": 3},
    {"name": "cache", "healthy": true, "latency_ms": 1}
  ],
  "app.build": {"sha": "abc123", "tags": ["<prod>", "eu"]}
}`

func hardenedJSONConditions() []config.HTTPJSONCondition {
	return []config.HTTPJSONCondition{
		jsonEq("$.status", "ok"),
		jsonEq("$.version", "1.4.2"),
		jsonEq("$.uptime_s", "86400"),
		jsonEq("$.uptime_s", "8.64e4"), // numbers compare by value
		jsonEq("$.ratio", "0.50"),
		jsonEq("$.ready", "true"),
		jsonEq("$.maintenance", "null"),
		jsonEq("$.checks[0].name", "database"),
		jsonEq("$.checks[1].healthy", "true"),
		jsonEq(`$["app.build"].sha`, "abc123"),
		jsonEq(`$["app.build"].tags`, `["<prod>","eu"]`), // compact, no HTML escaping
		jsonEq("$.checks[0]", `{"healthy":true,"latency_ms":3,"name":"database"}`),
		jsonExists("$.maintenance", true), // a present null exists
		jsonExists("$.checks[1].latency_ms", true),
		jsonExists("$.errors", false),
		jsonExists("$.checks[2]", false),
		{Path: "$.status", Equals: ptrTo("ok"), Exists: ptrTo(true)},
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestHTTPJSONHardenedPasses(t *testing.T) {
	srv := jsonServer(t, healthJSON)
	m := httpMon("json-ok", srv.URL, func(h *config.HTTPMonitor) { h.Expect.JSON = hardenedJSONConditions() })
	r := runProbe(t, m, testEnv())
	if !r.Success || len(r.Findings) != 0 {
		t.Fatalf("want a pass with no findings, got %+v details %v", r.Findings, r.Details)
	}
	if r.Details["json_conditions"] != strconv.Itoa(len(hardenedJSONConditions())) || r.Details["json_conditions_failed"] != "0" {
		t.Errorf("details = %v", r.Details)
	}
}

func TestHTTPJSONConditionFailures(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		cond  config.HTTPJSONCondition
		title string // in the title and the evidence
	}{
		{"mismatch", `{"status":"DOWN"}`, jsonEq("$.status", "ok"), `json $.status is "DOWN" (want "ok")`},
		{"missing", `{"state":"ok"}`, jsonEq("$.status", "ok"), `json $.status is missing (want "ok")`},
		{"missing-exists", `{"data":{}}`, jsonExists("$.data.id", true), `json $.data.id is missing (want it present)`},
		{"present-but-must-not", `{"errors":["disk full"]}`, jsonExists("$.errors", false), `json $.errors is present (want it absent): ["disk full"]`},
		{"number-mismatch", `{"n":10}`, jsonEq("$.n", "1"), `json $.n is 10 (want "1")`},
		{"number-not-string", `{"n":"1"}`, jsonEq("$.n", "1.0"), `json $.n is "1" (want "1.0")`},
		{"bool-vs-string", `{"ok":"true "}`, jsonEq("$.ok", "true"), `json $.ok is "true " (want "true")`},
		{"index-out-of-range", `{"items":[1]}`, jsonEq("$.items[1]", "1"), `json $.items[1] is missing`},
		{"index-on-object", `{"items":{"0":1}}`, jsonEq("$.items[0]", "1"), `json $.items[0] is missing`},
		{"member-on-array", `[{"id":1}]`, jsonEq("$.id", "1"), `json $.id is missing`},
		{"object-key-order-irrelevant-but-value-differs", `{"o":{"b":1,"a":2}}`, jsonEq("$.o", `{"a":2,"b":2}`), `json $.o is {"a":2,"b":1}`},
		{"not-json", `<html>oops</html>`, jsonEq("$.status", "ok"), `body is not JSON: invalid character '<'`},
		{"empty", ``, jsonExists("$", true), `body is not JSON: the body is empty`},
		{"trailing-data", `{"status":"ok"} {"status":"ok"}`, jsonEq("$.status", "ok"), `body is not JSON: data after the first JSON value`},
		{"invalid-path", `{"status":"ok"}`, jsonEq("status", "ok"), `json path "status" is invalid`},
		{"huge-exponent", `{"n":1e999999999}`, jsonEq("$.n", "1"), `json $.n is 1e999999999 (want "1")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := jsonServer(t, tc.body)
			m := httpMon("json", srv.URL, func(h *config.HTTPMonitor) {
				h.Expect.JSON = []config.HTTPJSONCondition{tc.cond}
			})
			r := runProbe(t, m, testEnv())
			f := wantFailure(t, r, tc.title)
			if !strings.Contains(f.Evidence, tc.title) {
				t.Errorf("evidence %q lacks %q", f.Evidence, tc.title)
			}
			if r.Details["json_conditions_failed"] != "1" {
				t.Errorf("json_conditions_failed = %q", r.Details["json_conditions_failed"])
			}
		})
	}
}

// TestHTTPJSONEveryFailureInEvidence checks that all failed conditions, and
// the other problems of the response, are in the one finding's evidence.
func TestHTTPJSONEveryFailureInEvidence(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":"DOWN","errors":["db"],"checks":[{"healthy":false}]}`)
	}))
	defer srv.Close()
	m := httpMon("json-many", srv.URL, func(h *config.HTTPMonitor) {
		h.Expect.JSON = append(hardenedJSONConditions()[:1], jsonExists("$.errors", false), jsonEq("$.checks[0].healthy", "true"))
	})
	r := runProbe(t, m, testEnv())
	f := wantFailure(t, r, "HTTP 503")
	for _, want := range []string{"HTTP 503 (want 200)", `json $.status is "DOWN" (want "ok")`, `json $.errors is present (want it absent): ["db"]`, `json $.checks[0].healthy is false (want "true")`} {
		if !strings.Contains(f.Evidence, want) {
			t.Errorf("evidence %q lacks %q", f.Evidence, want)
		}
	}
	if r.Details["json_conditions_failed"] != "3" {
		t.Errorf("json_conditions_failed = %q", r.Details["json_conditions_failed"])
	}
}

func TestHTTPJSONTruncatedBodyIsNotJSON(t *testing.T) {
	big := `{"pad":"` + strings.Repeat("x", maxBodyBytes) + `","status":"ok"}`
	srv := jsonServer(t, big)
	m := httpMon("json-big", srv.URL, func(h *config.HTTPMonitor) { h.Expect.JSON = []config.HTTPJSONCondition{jsonEq("$.status", "ok")} })
	r := runProbe(t, m, testEnv())
	wantFailure(t, r, "body is not JSON", fmt.Sprintf("only the first %d bytes are read", maxBodyBytes))
}

func TestHTTPJSONFailureIsRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			fmt.Fprint(w, `{"status":"starting"}`)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer srv.Close()
	m := httpMon("json-retry", srv.URL, func(h *config.HTTPMonitor) {
		h.Retries = 2
		h.Expect.JSON = []config.HTTPJSONCondition{jsonEq("$.status", "ok")}
	})
	r := runProbe(t, m, testEnv())
	if !r.Success || r.Attempts != 2 {
		t.Fatalf("success=%v attempts=%d, want a pass on the 2nd attempt; %v", r.Success, r.Attempts, r.Details)
	}
	if !strings.Contains(r.Details["previous_error"], `json $.status is "starting"`) {
		t.Errorf("previous_error = %q", r.Details["previous_error"])
	}
}

func TestJSONEqualsNumbers(t *testing.T) {
	tests := []struct {
		doc, want string
		eq        bool
	}{
		{"1", "1", true}, {"1.0", "1", true}, {"1", "1.000", true}, {"100", "1e2", true}, {"1E2", "100", true},
		{"-0", "0", true}, {"0.1", "1e-1", true}, {"12345678901234567890", "12345678901234567890", true},
		{"12345678901234567890", "12345678901234567891", false}, // no float rounding
		{"1", "01", false}, {"1", "0x1", false}, {"1", " 1", false}, {"1", "1 ", false}, {"1", "+1", false},
		{"1e500", "1e500", true}, // too large to expand: compared as text
		{"1e500", "10e499", false},
		{"2", "2.5", false},
	}
	for _, tc := range tests {
		if got := jsonEquals(json.Number(tc.doc), tc.want); got != tc.eq {
			t.Errorf("jsonEquals(%s, %q) = %v, want %v", tc.doc, tc.want, got, tc.eq)
		}
	}
}

// gatusVector is one row of ../../shared/vectors/gatus/condition-vectors.json.
type gatusVector struct {
	Name            string `json:"name"`
	Kind            string `json:"kind"`
	Condition       string `json:"condition"`
	HasContext      bool   `json:"hasContext"`
	ExpectedSuccess bool   `json:"expectedSuccess"`
	Result          struct {
		Body *string `json:"body"`
	} `json:"result"`
}

// The Gatus condition forms that map onto expect.json: a body path
// compared for equality with a literal, and has() of a body path.
var (
	gatusEquals = regexp.MustCompile(`^\[BODY\]((?:\.[A-Za-z0-9_-]+|\[[0-9]+\])*) == ([^\[\]()]*)$`)
	gatusHas    = regexp.MustCompile(`^has\(\[BODY\]((?:\.[A-Za-z0-9_-]+|\[[0-9]+\])*)\) == (true|false)$`)
)

// gatusExceptions are the in-scope Gatus vectors whose outcome differs
// from secopsd's, on purpose:
//   - Gatus reads a string such as "0x1", "0o2" or "0b0010" as the number
//     it spells and compares numerically. expect.json compares a string
//     by its text and only JSON numbers by value, so "0x1" equals "0x1"
//     but not "1" (a health endpoint returning "0x1" where 1 is meant is a
//     change worth failing on, and the rule stays predictable).
//   - Gatus's [BODY] is the raw body, JSON or not; expect.json parses the
//     body as JSON and fails on anything else (body_contains covers raw
//     text), so `[BODY] == test` on the body "test" fails here.
var gatusExceptions = map[string]string{
	"body-jsonpath-hexadecimal-int-using-equal-to-0x1":      `string "0x1" is not the number 1`,
	"body-jsonpath-hexadecimal-int-using-equal-to-0x2":      `string "0x2" is not the number 2`,
	"body-jsonpath-hexadecimal-int-using-equal-to-0xF":      `string "0xF" is not the number 15`,
	"body-jsonpath-hexadecimal-int-using-equal-to-0xC0ff33": `string "0xC0ff33" is not the number 12648243`,
	"body-jsonpath-octal-int-using-equal":                   `string "0o2" is not the number 2`,
	"body-jsonpath-binary-int-using-equal":                  `string "0b0010" is not the number 2`,
	"body-jsonpath-binary-int-using-equals":                 `string "0b0010" is not the text "0b10"`,
	"body":                                                  "a non-JSON body fails every json condition",
}

// TestGatusConditionVectors replays the Gatus condition vectors that
// translate to expect.json conditions through the http probe, against a
// real server serving each vector's body.
func TestGatusConditionVectors(t *testing.T) {
	data, err := os.ReadFile("../../shared/vectors/gatus/condition-vectors.json")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("gatus vectors: %v", err)
		}
		t.Skipf("gatus vectors not available: %v", err)
	}
	var file struct {
		Vectors []gatusVector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	var body atomic.Pointer[string]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, *body.Load())
	}))
	defer srv.Close()

	var inScope, agree, bodyVectors int
	var outOfScope []string
	for _, v := range file.Vectors {
		if v.Kind != "evaluate" || v.HasContext || !strings.Contains(v.Condition, "[BODY]") {
			continue
		}
		bodyVectors++
		var cond config.HTTPJSONCondition
		if m := gatusEquals.FindStringSubmatch(v.Condition); m != nil {
			cond = jsonEq("$"+m[1], m[2])
		} else if m := gatusHas.FindStringSubmatch(v.Condition); m != nil {
			cond = jsonExists("$"+m[1], m[2] == "true")
		} else {
			outOfScope = append(outOfScope, v.Name)
			continue
		}
		inScope++
		b := ""
		if v.Result.Body != nil {
			b = *v.Result.Body
		}
		body.Store(&b)
		r := runProbe(t, httpMon("gatus", srv.URL, func(h *config.HTTPMonitor) { h.Expect.JSON = []config.HTTPJSONCondition{cond} }), testEnv())
		why, excepted := gatusExceptions[v.Name]
		switch {
		case r.Success == v.ExpectedSuccess && excepted:
			t.Errorf("%s: %s now agrees with Gatus; drop it from the exceptions", v.Name, v.Condition)
		case r.Success == v.ExpectedSuccess:
			agree++
		case excepted:
			t.Logf("deliberate difference %s: %s on %q: gatus %v, secopsd %v (%s)", v.Name, v.Condition, b, v.ExpectedSuccess, r.Success, why)
		default:
			t.Errorf("%s: %s on %q: gatus says %v, secopsd %v; details %v", v.Name, v.Condition, b, v.ExpectedSuccess, r.Success, r.Details)
		}
	}
	t.Logf("gatus [BODY] evaluate vectors: %d; in scope: %d; agree: %d; deliberate differences: %d; out of scope: %d %v",
		bodyVectors, inScope, agree, inScope-agree, len(outOfScope), outOfScope)
	if inScope < 20 {
		t.Errorf("only %d vectors in scope; the translation broke", inScope)
	}
	if got := inScope - agree; got != len(gatusExceptions) {
		t.Errorf("%d differences, %d documented exceptions", got, len(gatusExceptions))
	}
}

func BenchmarkCheckJSON(b *testing.B) {
	body := []byte(healthJSON)
	conds := hardenedJSONConditions()
	b.ReportAllocs()
	for b.Loop() {
		if p := checkJSON(body, false, conds); len(p) != 0 {
			b.Fatal(p)
		}
	}
}

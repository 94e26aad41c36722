package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// headersInvalidDir holds the invalid configurations of the headers
// monitor, apart from testdata/invalid-*.yml and testdata/bytype, whose
// tables must list every file of their directory.
const headersInvalidDir = "testdata/headers"

func headersInvalid() map[string]typeInvalidCase {
	return map[string]typeInvalidCase{
		"invalid-headers-urls-missing.yml":            {ErrMissing, 2, "monitors[0].urls"},
		"invalid-headers-url.yml":                     {ErrInvalid, 6, "monitors[0].urls[1]"},
		"invalid-headers-url-duplicate.yml":           {ErrDuplicate, 6, "monitors[0].urls[1]"},
		"invalid-headers-urls-not-list.yml":           {ErrType, 4, "monitors[0].urls"},
		"invalid-headers-header-name.yml":             {ErrInvalid, 6, `monitors[0].headers["X Bad"]`},
		"invalid-headers-header-value.yml":            {ErrInvalid, 6, "monitors[0].headers.Authorization"},
		"invalid-headers-origin-header.yml":           {ErrInvalid, 6, "monitors[0].headers.Origin"},
		"invalid-headers-probe-origin.yml":            {ErrInvalid, 5, "monitors[0].probe_origin"},
		"invalid-headers-min-grade.yml":               {ErrInvalid, 5, "monitors[0].min_grade"},
		"invalid-headers-hsts-min-max-age.yml":        {ErrInvalid, 5, "monitors[0].hsts_min_max_age"},
		"invalid-headers-hsts-min-max-age-number.yml": {ErrDuration, 5, "monitors[0].hsts_min_max_age"},
		"invalid-headers-require-preload.yml":         {ErrType, 5, "monitors[0].require_preload"},
		"invalid-headers-ignore-unknown.yml":          {ErrInvalid, 7, "monitors[0].ignore[1]"},
		"invalid-headers-ignore-unreachable.yml":      {ErrInvalid, 5, "monitors[0].ignore[0]"},
		"invalid-headers-ignore-duplicate.yml":        {ErrDuplicate, 7, "monitors[0].ignore[1]"},
		"invalid-headers-unknown-key.yml":             {ErrUnknownKey, 5, "monitors[0].require_prelaod"},
	}
}

// TestHeadersInvalidConfigs parses each invalid headers configuration and
// checks it fails with exactly one problem: its sentinel, line and key
// path, on one line, without the secret of the file.
func TestHeadersInvalidConfigs(t *testing.T) {
	runSectionInvalid(t, headersInvalidDir, headersInvalid(), "hdr-cfg-secret-91")
}

func TestHeadersDefaults(t *testing.T) {
	cfg, err := parse([]byte("monitors:\n  - name: web\n    type: headers\n    urls: [https://www.example.com/]\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Monitors[0]
	if m.Schedule != "@every 12h" || m.Timeout.Std() != 30*time.Second {
		t.Errorf("schedule %q timeout %s", m.Schedule, m.Timeout)
	}
	want := &HeadersMonitor{
		URLs:          []string{"https://www.example.com/"},
		ProbeOrigin:   "https://secopsd-probe.invalid",
		HSTSMinMaxAge: Duration(365 * 24 * time.Hour),
	}
	if !reflect.DeepEqual(m.Headers, want) {
		t.Errorf("headers block = %+v, want %+v", m.Headers, want)
	}
	if int64(m.Headers.HSTSMinMaxAge.Std().Seconds()) != 31536000 {
		t.Errorf("default hsts_min_max_age is not 31536000 seconds")
	}

	t.Setenv("SECOPSD_TEST_HEADERS_TOKEN", "tok-123")
	cfg, err = parse([]byte(`monitors:
  - name: web
    type: headers
    urls:
      - https://www.example.com/
      - http://intranet.example.com:8080/login?next=/
    headers:
      Authorization: "Bearer ${SECOPSD_TEST_HEADERS_TOKEN}"
      Cookie: {value: "sid=abc"}
    probe_origin: http://evil.example:8443
    min_grade: B+
    hsts_min_max_age: 31536000s
    require_preload: true
    ignore: [headers.disclosure.server, headers.permissions_policy.missing]
`), "t.yml", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	want = &HeadersMonitor{
		URLs:           []string{"https://www.example.com/", "http://intranet.example.com:8080/login?next=/"},
		Headers:        map[string]Secret{"Authorization": "Bearer tok-123", "Cookie": "sid=abc"},
		ProbeOrigin:    "http://evil.example:8443",
		MinGrade:       "B+",
		HSTSMinMaxAge:  Duration(31536000 * time.Second),
		RequirePreload: true,
		Ignore:         []string{"headers.disclosure.server", "headers.permissions_policy.missing"},
	}
	if got := cfg.Monitors[0].Headers; !reflect.DeepEqual(got, want) {
		t.Errorf("headers block = %+v, want %+v", got, want)
	}
}

func TestHeadersCatalogs(t *testing.T) {
	ids := HeadersFindingIDs()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || !strings.HasPrefix(id, "headers.") {
			t.Errorf("finding id %q", id)
		}
		seen[id] = true
	}
	ids[0] = "changed"
	if HeadersFindingIDs()[0] == "changed" || HeadersGrades()[0] != "A+" || len(HeadersGrades()) != 13 {
		t.Error("the catalogs must be copies")
	}
	for origin, ok := range map[string]bool{
		"https://a.example": true, "http://a.example:8080": true, "https://a.example/": false, "a.example": false,
		"https://u:p@a.example": false, "https://a.example?x": false, "https://a.example#f": false, "": false, "ftp://a.example": false,
		"https://": false, "https://a.example?": false,
	} {
		if got := checkOrigin(origin) == ""; got != ok {
			t.Errorf("checkOrigin(%q) = %q", origin, checkOrigin(origin))
		}
	}
}

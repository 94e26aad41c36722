package monitors

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// obsResponse is one simulated response of an Observatory vector.
type obsResponse struct {
	Status         int                        `json:"status"`
	Verified       bool                       `json:"verified"`
	Headers        map[string]json.RawMessage `json:"headers"`
	RequestHeaders map[string]string          `json:"requestHeaders"`
}

// header converts the vector's headers (a string or a list each) into an
// http.Header, canonicalising the names.
func (r *obsResponse) header(t *testing.T) http.Header {
	h := http.Header{}
	for k, raw := range r.Headers {
		var one string
		if err := json.Unmarshal(raw, &one); err == nil {
			h.Add(k, one)
			continue
		}
		var many []string
		if err := json.Unmarshal(raw, &many); err != nil {
			t.Fatalf("header %s: %s", k, raw)
		}
		for _, v := range many {
			h.Add(k, v)
		}
	}
	return h
}

// obsVector is one mdn/mdn-http-observatory analyzer vector.
type obsVector struct {
	ID     int    `json:"id"`
	Suite  string `json:"suite"`
	Origin string `json:"origin"`
	Input  struct {
		Resources struct {
			Path *string `json:"path"`
		} `json:"resources"`
		Responses struct {
			Auto  *obsResponse `json:"auto"`
			HTTP  *obsResponse `json:"http"`
			HTTPS *obsResponse `json:"https"`
			CORS  *obsResponse `json:"cors"`
		} `json:"responses"`
	} `json:"input"`
	Expected struct {
		Result string `json:"result"`
		Pass   bool   `json:"pass"`
	} `json:"expected"`
}

// obsConcepts maps the Observatory suites secopsd covers to the prefix of
// the finding ids of the same concept. The suites sri, coop, coep, corp and
// redirection test things the headers monitor does not check (subresource
// integrity is the ui monitor's; COOP/COEP/CORP isolation headers and the
// http→https redirection are out of its scope), so they are not replayed.
var obsConcepts = map[string]string{
	"strict-transport-security": "headers.hsts.",
	"csp":                       "headers.csp.",
	"x-frame-options":           "headers.xfo.",
	"x-content-type-options":    "headers.xcto.",
	"referrer-policy":           "headers.referrer.",
	"cookies":                   "headers.cookie.",
	"cors":                      "headers.cors.",
}

// obsSecopsdOnly are CSP findings of checks that Observatory's CSP test
// does not make (it neither requires base-uri or frame-ancestors nor flags
// misspelt directives), left out of the comparison.
var obsSecopsdOnly = []string{
	findingCSPBaseURI, findingCSPFrameAncestorsMissing, findingCSPFrameAncestorsPermissive, findingCSPUnknown,
}

// obsResultFindings maps each failing Observatory result to the secopsd
// findings that mean the same; a replayed vector agrees when secopsd raises
// one of them (and, for a passing result, no finding of the concept).
var obsResultFindings = map[string][]string{
	"hsts-not-implemented":                          {findingHSTSMissing},
	"hsts-header-invalid":                           {findingHSTSInvalid},
	"hsts-not-implemented-no-https":                 {findingHSTSPlainHTTP},
	"hsts-invalid-cert":                             {findingHeadersUnreachable},
	"hsts-implemented-max-age-less-than-six-months": {findingHSTSShortMaxAge},

	"csp-not-implemented":                       {findingCSPMissing, findingCSPInvalid},
	"csp-not-implemented-but-reporting-enabled": {findingCSPReportOnly},
	"csp-header-invalid":                        {findingCSPInvalid, findingCSPDuplicate},
	"csp-implemented-with-unsafe-inline":        {findingCSPUnsafeInline, findingCSPScriptUnrestricted, findingCSPScriptWildcard, findingCSPObjectSrc},
	"csp-implemented-with-unsafe-eval":          {findingCSPUnsafeEval},
	"csp-implemented-with-insecure-scheme":      {findingCSPInsecureScheme, findingCSPScriptWildcard},

	"x-frame-options-not-implemented": {findingXFOMissing},
	"x-frame-options-header-invalid":  {findingXFOInvalid},

	"x-content-type-options-not-implemented": {findingXCTOMissing},
	"x-content-type-options-header-invalid":  {findingXCTOInvalid},

	"referrer-policy-header-invalid": {findingReferrerInvalid},
	"referrer-policy-unsafe":         {findingReferrerUnsafe, findingReferrerWeak},

	"cookies-without-secure-flag-but-protected-by-hsts":         {findingCookieInsecure},
	"cookies-session-without-secure-flag-but-protected-by-hsts": {findingCookieInsecure},
	"cookies-without-secure-flag":                               {findingCookieInsecure},
	"cookies-session-without-secure-flag":                       {findingCookieInsecure},
	"cookies-session-without-httponly-flag":                     {findingCookieHTTPOnly},
	"cookies-anticsrf-without-samesite-flag":                    {findingCookieSameSite},
	"cookies-samesite-flag-invalid":                             {findingCookieSameSite},

	"cross-origin-resource-sharing-implemented-with-universal-access": {findingCORSReflectedCreds, findingCORSReflected, findingCORSWildcardCreds},
}

// obsExceptions are the vectors where secopsd deliberately disagrees with
// Observatory, by id, with the reason.
var obsExceptions = map[int]string{
	// HSTS
	6: "max-age=15768000 (six months): Observatory accepts six months, secopsd requires hsts_min_max_age, one year by default (what the preload list requires)",
	7: "preloaded host without a header: secopsd ships no preload list, so it asks for the header everywhere",
	8: "preloaded host without a header: secopsd ships no preload list, so it asks for the header everywhere",
	// CSP
	14:  "script-src 'strict-dynamic' without a nonce or hash: Observatory calls it invalid; under CSP3 it lets no script run, which is safe, so secopsd raises nothing",
	59:  "'sha256-…''sha256-…' (two hashes without a space) is not a hash-source in the CSP3 grammar, so 'unsafe-inline' stays in force: secopsd raises unsafe_inline, Observatory passes it",
	63:  "header default-src http: plus <meta> default-src https:: Observatory intersects the lists to 'none'; under CSP3 http: also matches https: URLs, so both policies allow scripts from any HTTPS host (script_wildcard)",
	103: "both fail, for another reason: the header's only directive is misspelt (frame-anchestors) and <meta> may not set frame-ancestors, so secopsd reports both policies as invalid (headers.csp.invalid), Observatory as unsafe-inline",
	// X-Frame-Options
	106: "both fail, for another reason: \"SAMEORIGIN, SAMEORIGIN\" is SAMEORIGIN for browsers (HTML de-duplicates the values), so secopsd reports xfo.sameorigin, Observatory an invalid header",
	107: "ALLOW-FROM is obsolete and ignored by current browsers, leaving the page frameable: secopsd reports xfo.invalid, Observatory passes it",
	109: "SAMEORIGIN: secopsd asks for DENY or frame-ancestors (xfo.sameorigin, low), Observatory passes it",
	// X-Content-Type-Options
	114: "\"nosniff, nosniff\": Fetch uses the first value of the list, so browsers apply nosniff and secopsd passes it; Observatory calls it invalid",
	// Referrer-Policy
	122: "<meta name=referrer content=\"no-referrer, same-origin\">: HTML takes exactly one token from <meta> and ignores a list, so no policy applies (headers.referrer.invalid); Observatory parses it as a list",
	123: "header unsafe-url plus the same list-valued <meta>, which browsers ignore: unsafe-url stays in force",
	124: "no Referrer-Policy: secopsd asks for an explicit policy (low), Observatory relies on the browsers' default",
	// Cookies
	134: "heroku-session-affinity has neither Secure nor HttpOnly nor SameSite: Observatory skips that cookie by name, secopsd does not",
	136: "a session cookie without SameSite: secopsd requires SameSite on session cookies (not every browser defaults to Lax), Observatory only on anti-CSRF cookies",
}

// obsDefaultProbeOrigin is the Origin Observatory's CORS probe sends.
const obsDefaultProbeOrigin = "https://http-observatory.security.mozilla.org"

// obsInput builds the audit input of a vector.
func obsInput(t *testing.T, v obsVector) (headersInput, bool) {
	r := v.Input.Responses
	in := headersInput{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), probeOrigin: obsDefaultProbeOrigin}
	scheme, resp := "http", r.Auto
	if r.HTTPS != nil {
		if !r.HTTPS.Verified {
			return in, false // secopsd refuses an invalid certificate: headers.unreachable
		}
		scheme = "https"
	}
	if v.Suite == "strict-transport-security" {
		switch {
		case r.HTTPS != nil:
			resp = r.HTTPS
		case r.HTTP != nil:
			resp = r.HTTP
		}
	}
	if resp == nil {
		resp = &obsResponse{}
	}
	in.url = &url.URL{Scheme: scheme, Host: "mozilla.org", Path: "/"}
	in.header = resp.header(t)
	if p := v.Input.Resources.Path; p != nil && headersIsHTML(in.header, []byte(*p)) {
		in.html = []byte(*p)
	}
	if r.CORS != nil {
		in.cors = r.CORS.header(t)
		if o := r.CORS.RequestHeaders["origin"]; o != "" {
			in.probeOrigin = o
		}
	}
	return in, true
}

// TestObservatoryVectors replays the mdn/mdn-http-observatory analyzer
// vectors of the concepts the headers monitor shares with Observatory.
func TestObservatoryVectors(t *testing.T) {
	data, err := os.ReadFile(headersVectorFile(t, "mdn-http-observatory", "analyzer-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []obsVector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	opt := headersOptions{hstsMinMaxAge: 31536000}
	perSuite := map[string][2]int{} // agree, total
	skipped := map[string]int{}
	var differ []int
	for _, v := range doc.Vectors {
		prefix, ok := obsConcepts[v.Suite]
		if !ok {
			skipped[v.Suite]++
			continue
		}
		var mine []string
		if in, ok := obsInput(t, v); ok {
			for _, is := range auditHeaders(in, opt) {
				if strings.HasPrefix(is.id, prefix) && !slices.Contains(obsSecopsdOnly, is.id) {
					mine = append(mine, is.id)
				}
			}
		} else {
			mine = []string{findingHeadersUnreachable}
		}
		var agree bool
		if v.Expected.Pass {
			agree = len(mine) == 0
		} else {
			want, mapped := obsResultFindings[v.Expected.Result]
			if !mapped {
				t.Fatalf("vector %d: result %q is not mapped", v.ID, v.Expected.Result)
			}
			for _, id := range mine {
				if slices.Contains(want, id) {
					agree = true
				}
			}
		}
		s := perSuite[v.Suite]
		s[1]++
		if agree {
			s[0]++
		}
		perSuite[v.Suite] = s
		reason, excepted := obsExceptions[v.ID]
		switch {
		case !agree && !excepted:
			t.Errorf("vector %d (%s, %s): Observatory %s pass=%v, secopsd %v", v.ID, v.Suite, v.Origin, v.Expected.Result, v.Expected.Pass, mine)
		case agree && excepted:
			t.Errorf("vector %d is listed as an exception (%s) but agrees: remove it", v.ID, reason)
		case !agree:
			differ = append(differ, v.ID)
		}
	}
	total, agree := 0, 0
	suites := make([]string, 0, len(perSuite))
	for s := range perSuite {
		suites = append(suites, s)
	}
	sort.Strings(suites)
	for _, s := range suites {
		c := perSuite[s]
		agree += c[0]
		total += c[1]
		t.Logf("%s: %d/%d agree", s, c[0], c[1])
	}
	t.Logf("Observatory: %d/%d replayed vectors agree; deliberate differences: %v; not replayed: %v", agree, total, differ, skipped)
}

// TestCSPParserVectors replays Observatory's parseCsp vectors that hold
// one policy. Observatory merges several policies into one by intersecting
// their source lists; secopsd instead evaluates each policy and counts a
// weakness only when every policy has it (which is how browsers enforce
// several policies), so the multi-policy vectors are not replayed.
func TestCSPParserVectors(t *testing.T) {
	data, err := os.ReadFile(headersVectorFile(t, "mdn-http-observatory", "csp-parser-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []struct {
			Origin string              `json:"origin"`
			Input  []string            `json:"input"`
			Output map[string][]string `json:"output"`
			Error  *string             `json:"error"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	replayed, agree, skipped := 0, 0, 0
	for i, v := range doc.Vectors {
		if len(v.Input) != 1 {
			skipped++
			continue
		}
		replayed++
		p := parseCSPPolicy(v.Input[0], false)
		var ok bool
		switch {
		case v.Error != nil && strings.HasPrefix(*v.Error, "Duplicate directive"):
			// Observatory rejects the policy; CSP3 (and secopsd) use the
			// first occurrence and report headers.csp.duplicate_directive.
			ok = len(p.duplicates) > 0
		case v.Error != nil:
			ok = p.empty()
		default:
			ok = cspMatchesObservatory(p, v.Output)
		}
		if ok {
			agree++
			continue
		}
		t.Errorf("csp vector %d (%s): %q parsed to %v (dups %v), want %v / error %v", i, v.Origin, v.Input[0], p.directives, p.duplicates, v.Output, v.Error)
	}
	t.Logf("CSP parser: %d/%d single-policy vectors agree; %d multi-policy (intersection) vectors not replayed", agree, replayed, skipped)
}

// cspMatchesObservatory compares a parsed policy with Observatory's
// normalised output: lower-cased, de-duplicated, sorted source lists, a
// valueless directive shown as 'none', 'unsafe-inline' dropped next to a
// nonce or hash, and for a repeated directive (reported in
// _observatory_duplicate_key_warnings) its last occurrence.
func cspMatchesObservatory(p *cspPolicy, want map[string][]string) bool {
	dups := want["_observatory_duplicate_key_warnings"]
	if len(dups) > 0 {
		// Observatory keeps the last occurrence; CSP3 keeps the first:
		// agree on detecting the repetition.
		slices.Sort(dups)
		got := slices.Clone(p.duplicates)
		slices.Sort(got)
		return slices.Equal(got, dups)
	}
	if len(p.directives) != len(want) {
		return false
	}
	for name, list := range p.directives {
		w, ok := want[name]
		if !ok {
			return false
		}
		var norm []string
		nonceOrHash := false
		for _, s := range list {
			if k := parseCSPSource(s).kind; k == cspNonce || k == cspHash {
				nonceOrHash = true
			}
		}
		for _, s := range list {
			s = strings.ToLower(s)
			if s == "'unsafe-inline'" && nonceOrHash {
				continue
			}
			norm = hdrAppendUnique(norm, s)
		}
		if len(norm) == 0 {
			norm = []string{"'none'"}
		}
		slices.Sort(norm)
		w = slices.Clone(w)
		slices.Sort(w)
		if !slices.Equal(norm, w) {
			return false
		}
	}
	return true
}

// hstsVector is one chromium/hstspreload header vector.
type hstsVector struct {
	Fn     string `json:"fn"`
	Header string `json:"header"`
	Parsed *struct {
		IncludeSubDomains bool   `json:"includeSubDomains"`
		MaxAgeSeconds     *int64 `json:"maxAgeSeconds"`
		Preload           bool   `json:"preload"`
	} `json:"parsed"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	Policy   string   `json:"policy"`
}

// hstsCodeMap maps hstspreload issue codes to secopsd's.
var hstsCodeMap = map[string]string{
	"header.parse.empty":                        hstsWarnEmpty,
	"header.parse.empty_directive":              hstsWarnEmptyDir,
	"header.parse.unknown_directive":            hstsWarnUnknown,
	"header.parse.max_age.leading_zero":         hstsWarnLeadingZero,
	"header.parse.max_age.parse_int_error":      hstsErrMaxAgeBad,
	"header.parse.max_age.non_digit_characters": hstsErrMaxAgeBad,
	"header.parse.invalid.max_age.no_value":     hstsErrMaxAgeNone,
}

// hstsPreloadFindings maps the hstspreload preloadable/eligible errors to
// the findings secopsd raises with require_preload and the policy's
// minimum max-age.
var hstsPreloadFindings = map[string]string{
	"header.preloadable.include_sub_domains.missing": findingHSTSNoSubdomains,
	"header.preloadable.preload.missing":             findingHSTSNoPreload,
	"header.preloadable.max_age.missing":             findingHSTSInvalid,
	"header.parse.invalid.max_age.no_value":          findingHSTSInvalid,
	"header.preloadable.max_age.zero":                findingHSTSShortMaxAge,
	"header.preloadable.max_age.below_1_year":        findingHSTSShortMaxAge,
	"header.preloadable.max_age.below_18_weeks":      findingHSTSShortMaxAge,
}

// hstsExceptions are the hstspreload vectors secopsd deliberately
// disagrees with, by header and function.
var hstsExceptions = map[string]string{
	"ParseHeaderString  preload; includeSubDomains; preload; max-age=12345678; preload": "a repeated directive: RFC 6797 §6.1 says each directive MUST appear only once and Chromium rejects such a header, so secopsd treats it as invalid; hstspreload only warns",
}

// TestHSTSPreloadVectors replays chromium/hstspreload's header vectors:
// ParseHeaderString against parseHSTS, PreloadableHeaderString and
// EligibleHeaderString against the audit with require_preload (and the
// policy's minimum max-age). RemovableHeaderString (whether a site may
// leave the preload list) has no counterpart and is not replayed.
func TestHSTSPreloadVectors(t *testing.T) {
	data, err := os.ReadFile(headersVectorFile(t, "hsts", "hstspreload-header-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []hstsVector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	replayed, agree, skipped := 0, 0, 0
	var differ []string
	for _, v := range doc.Vectors {
		var ok bool
		switch v.Fn {
		case "ParseHeaderString":
			ok = hstsParseAgrees(v)
		case "PreloadableHeaderString", "EligibleHeaderString":
			ok = hstsPreloadAgrees(v)
		default:
			skipped++
			continue
		}
		replayed++
		key := v.Fn + " " + v.Policy + " " + v.Header
		reason, excepted := hstsExceptions[key]
		switch {
		case ok && excepted:
			t.Errorf("%q is listed as an exception (%s) but agrees", key, reason)
		case ok:
			agree++
		case !excepted:
			t.Errorf("%s %q (policy %q): disagrees: parsed %+v", v.Fn, v.Header, v.Policy, parseHSTS(v.Header))
		default:
			differ = append(differ, key)
		}
	}
	t.Logf("hstspreload: %d/%d replayed vectors agree; deliberate differences: %q; %d Removable vectors not replayed", agree, replayed, differ, skipped)
}

func hstsParseAgrees(v hstsVector) bool {
	h := parseHSTS(v.Header)
	var wantErrs, wantWarns []string
	for _, c := range v.Errors {
		wantErrs = append(wantErrs, hstsCodeMap[c])
	}
	for _, c := range v.Warnings {
		wantWarns = append(wantWarns, hstsCodeMap[c])
	}
	var gotErrs []string
	for _, c := range h.errors {
		if c != hstsErrMaxAgeAbsent { // hstspreload's parser leaves that to Preloadable
			gotErrs = append(gotErrs, c)
		}
	}
	slices.Sort(wantErrs)
	slices.Sort(wantWarns)
	slices.Sort(gotErrs)
	gotWarns := slices.Clone(h.warnings)
	slices.Sort(gotWarns)
	if !slices.Equal(gotErrs, wantErrs) || !slices.Equal(gotWarns, wantWarns) {
		return false
	}
	p := v.Parsed
	wantMax := int64(-1)
	if p.MaxAgeSeconds != nil {
		wantMax = *p.MaxAgeSeconds
	}
	return h.maxAge == wantMax && h.includeSubDomains == p.IncludeSubDomains && h.preload == p.Preload
}

func hstsPreloadAgrees(v hstsVector) bool {
	opt := headersOptions{hstsMinMaxAge: 31536000, requirePreload: true}
	if v.Policy == "bulk-18-weeks" {
		opt.hstsMinMaxAge = 18 * 7 * 24 * 3600
	}
	in := headersInput{url: &url.URL{Scheme: "https", Host: "example.com"}, header: http.Header{"Strict-Transport-Security": {v.Header}}}
	var got []string
	for _, is := range auditHeaders(in, opt) {
		if strings.HasPrefix(is.id, "headers.hsts.") {
			got = hdrAppendUnique(got, is.id)
		}
	}
	var want []string
	for _, c := range v.Errors {
		if id, ok := hstsPreloadFindings[c]; ok {
			want = hdrAppendUnique(want, id)
		}
	}
	if slices.Contains(want, findingHSTSInvalid) {
		// An invalid header is the one finding; the others need a valid one.
		want = []string{findingHSTSInvalid}
	}
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

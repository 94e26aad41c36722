package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Defaults and limits of the http monitor type.
const (
	// DefaultHTTPMethod is the request method of an http monitor.
	DefaultHTTPMethod = "GET"
	// DefaultHTTPStatus is the status code an http monitor expects.
	DefaultHTTPStatus = 200
	// MaxHTTPRetries bounds HTTPMonitor.Retries.
	MaxHTTPRetries = 10
)

// httpMethods are the request methods an http monitor may use.
var httpMethods = []string{"GET", "HEAD", "POST"}

// defaultHTTP returns the defaults of an http monitor's block: GET,
// expect status 200, no latency bound, no retries.
func defaultHTTP() *HTTPMonitor {
	return &HTTPMonitor{
		Method: DefaultHTTPMethod,
		Expect: HTTPExpect{Status: DefaultHTTPStatus},
	}
}

// validate checks an http monitor's block; path is the monitor's path, as
// the block's keys sit beside the common ones.
func (h *HTTPMonitor) validate(c *checker, path string) {
	up := joinPath(path, "url")
	if h.URL == "" {
		c.errorf(up, ErrMissing, "url is required for an http monitor")
	} else if msg := checkHTTPURL(h.URL); msg != "" {
		c.errorf(up, ErrInvalid, "%s", msg)
	}
	if !slices.Contains(httpMethods, h.Method) {
		c.errorf(joinPath(path, "method"), ErrInvalid, "unsupported method %s (use %s)", quote(h.Method), strings.Join(httpMethods, ", "))
	}
	validateSecretHeaders(c, joinPath(path, "headers"), h.Headers)
	if s := h.Expect.Status; s < 100 || s > 599 {
		c.errorf(joinPath(path, "expect.status"), ErrInvalid, "status must be between 100 and 599, got %d", s)
	}
	if h.Expect.MaxLatency < 0 {
		c.errorf(joinPath(path, "expect.max_latency"), ErrInvalid, "max_latency must not be negative")
	}
	if h.Retries < 0 || h.Retries > MaxHTTPRetries {
		c.errorf(joinPath(path, "retries"), ErrInvalid, "retries must be between 0 and %d, got %d", MaxHTTPRetries, h.Retries)
	}
	h.validateJSON(c, joinPath(path, "expect.json"))
}

// validateJSON checks the expect.json conditions; path is expect.json's.
func (h *HTTPMonitor) validateJSON(c *checker, path string) {
	conds := h.Expect.JSON
	if len(conds) == 0 {
		return
	}
	if h.Method == "HEAD" {
		c.errorf(path, ErrInvalid, "json conditions need a response body, which a HEAD request never gets (use GET or POST)")
	}
	if len(conds) > MaxHTTPJSONConditions {
		c.errorf(path, ErrInvalid, "at most %d json conditions, got %d", MaxHTTPJSONConditions, len(conds))
	}
	for i, cond := range conds {
		cp := fmt.Sprintf("%s[%d]", path, i)
		if cond.Path == "" {
			c.errorf(joinPath(cp, "path"), ErrMissing, "path is required (a JSON path such as $.status or $.items[0].id)")
		} else if _, err := ParseJSONPath(cond.Path); err != nil {
			c.errorf(joinPath(cp, "path"), ErrInvalid, "invalid JSON path %s: %v", quote(cond.Path), err)
		}
		switch {
		case cond.Equals == nil && cond.Exists == nil:
			c.errorf(cp, ErrMissing, "a json condition needs equals or exists")
		case cond.Equals != nil && cond.Exists != nil && !*cond.Exists:
			c.errorf(joinPath(cp, "exists"), ErrInvalid, "exists: false contradicts equals (a missing value equals nothing)")
		}
	}
}

// MaxHTTPJSONConditions bounds how many expect.json conditions an http
// monitor may have.
const MaxHTTPJSONConditions = 100

// HTTPJSONCondition is one condition on an http monitor's JSON body: the
// value at Path equals Equals, and/or exists (or not).
type HTTPJSONCondition struct {
	// Path locates the value, in the JSONPath subset of ParseJSONPath.
	Path string `yaml:"path"`
	// Equals is the value's expected canonical text: a string's own text,
	// a number compared by value, true, false, null, or compact JSON with
	// sorted keys for an object or array. Nil checks no value.
	Equals *string `yaml:"equals"`
	// Exists requires the path to resolve (true) or not to (false); nil
	// checks neither, though Equals implies true.
	Exists *bool `yaml:"exists"`
}

// JSONPath is a parsed JSON path: the steps from the document's root to
// one value.
type JSONPath []JSONPathStep

// JSONPathStep is one step of a JSONPath: an object member by name, or an
// array element by index.
type JSONPathStep struct {
	// Key is the member name of a member step.
	Key string
	// Index is the element index of an index step, -1 for a member step.
	Index int
}

// Limits of ParseJSONPath.
const (
	maxJSONPathLen   = 1024
	maxJSONPathIndex = 1 << 20
)

// ParseJSONPath parses the JSONPath subset that http monitors support: $
// (the root) followed by any number of .name, ["name"] or ['name'] member
// steps and [N] index steps, as in $.data.items[0].id. A .name ends at the
// next . or [; names holding those are written ["a.b"]. Wildcards, slices,
// filters, negative indexes and recursive descent are not supported.
func ParseJSONPath(s string) (JSONPath, error) {
	if len(s) > maxJSONPathLen {
		return nil, fmt.Errorf("longer than %d bytes", maxJSONPathLen)
	}
	rest, ok := strings.CutPrefix(s, "$")
	if !ok {
		return nil, errors.New(`must start with "$" (the document's root), as in $.status`)
	}
	p := JSONPath{}
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			switch {
			case name == "" && strings.HasPrefix(rest, "."):
				return nil, errors.New("recursive descent (..) is not supported")
			case name == "":
				return nil, errors.New(`"." must be followed by a member name`)
			case name == "*":
				return nil, errors.New("wildcards are not supported")
			case strings.ContainsAny(name, "]'\"\x00"):
				return nil, fmt.Errorf("member name %s holds a quote or bracket (write it as [\"name\"])", quote(name))
			}
			p = append(p, JSONPathStep{Key: name, Index: -1})
			rest = rest[end:]
		case '[':
			rest = rest[1:]
			if rest != "" && (rest[0] == '"' || rest[0] == '\'') {
				q := rest[0]
				end := strings.IndexByte(rest[1:], q)
				if end < 0 {
					return nil, errors.New("unterminated quoted member name")
				}
				name := rest[1 : 1+end]
				rest = rest[2+end:]
				if !strings.HasPrefix(rest, "]") {
					return nil, errors.New(`a quoted member name must be followed by "]"`)
				}
				rest = rest[1:]
				p = append(p, JSONPathStep{Key: name, Index: -1})
				continue
			}
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, errors.New(`unterminated "["`)
			}
			idx := rest[:end]
			rest = rest[end+1:]
			n, err := strconv.Atoi(idx)
			switch {
			case idx == "*":
				return nil, errors.New("wildcards are not supported")
			case strings.HasPrefix(idx, "-"):
				return nil, errors.New("negative indexes are not supported")
			case err != nil || idx == "" || idx[0] == '+' || strings.ContainsAny(idx, " \t"):
				return nil, fmt.Errorf("[%s] is not an array index (use [0], [1], … or [\"name\"]; slices and filters are not supported)", idx)
			case n > maxJSONPathIndex:
				return nil, fmt.Errorf("index %d is larger than %d", n, maxJSONPathIndex)
			}
			p = append(p, JSONPathStep{Index: n})
		default:
			return nil, fmt.Errorf("unexpected %s after %s (use .name, [\"name\"] or [N])", quote(rest[:1]), quote(s[:len(s)-len(rest)]))
		}
	}
	return p, nil
}

// String returns the path in the syntax ParseJSONPath reads, writing a
// member name as .name where that reads back the same.
func (p JSONPath) String() string {
	var b strings.Builder
	b.WriteByte('$')
	for _, st := range p {
		switch {
		case st.Index >= 0:
			b.WriteString("[" + strconv.Itoa(st.Index) + "]")
		case st.Key != "" && st.Key != "*" && !strings.ContainsAny(st.Key, ".[]'\"\x00"):
			b.WriteString("." + st.Key)
		case !strings.Contains(st.Key, `"`):
			b.WriteString(`["` + st.Key + `"]`)
		default:
			b.WriteString(`['` + st.Key + `']`)
		}
	}
	return b.String()
}

// validateSecretHeaders checks a map of request headers whose values may be
// credentials; path is the map's key path. Messages never print a value.
func validateSecretHeaders(c *checker, path string, headers map[string]Secret) {
	for name, value := range headers {
		hp := mapKeyPath(path, name)
		if !isToken(name) {
			c.errorf(hp, ErrInvalid, "invalid header name %s", quote(name))
		}
		if strings.ContainsAny(value.Reveal(), "\r\n\x00") {
			c.errorf(hp, ErrInvalid, "header value contains a line break or NUL")
		}
	}
}

// checkHTTPURL returns why u is not an absolute http or https URL with a
// host, or "". It prints u only with any password removed.
func checkHTTPURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "url is not a valid URL"
	}
	switch {
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Sprintf("url %s must start with http:// or https://", quote(p.Redacted()))
	case p.Host == "" || p.Hostname() == "":
		return fmt.Sprintf("url %s has no host", quote(p.Redacted()))
	}
	return ""
}

// isToken reports whether s is an HTTP token (RFC 9110), as a header name
// must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

package monitors

// Strict-Transport-Security parsing (RFC 6797 §6.1). Problems are issue
// codes: errors make browsers ignore the header, warnings do not.

import (
	"math"
	"strconv"
	"strings"
)

// HSTS issue codes. Errors make the header invalid; warnings are tolerated.
const (
	hstsErrSyntax       = "syntax"           // a directive that is not token [ "=" token / quoted-string ]
	hstsErrRepeated     = "repeated"         // a directive given twice (RFC 6797 §6.1: MUST appear only once)
	hstsErrMaxAgeNone   = "max_age.no_value" // max-age without a value
	hstsErrMaxAgeBad    = "max_age.invalid"  // max-age that is not 1*DIGIT
	hstsErrMaxAgeAbsent = "max_age.missing"  // no max-age (it is REQUIRED)
	hstsErrValued       = "valued"           // includeSubDomains or preload with a value

	hstsWarnEmpty       = "empty"                // an empty header
	hstsWarnEmptyDir    = "empty_directive"      // an empty directive, such as a trailing ';'
	hstsWarnUnknown     = "unknown_directive"    // a directive RFC 6797 does not define (ignored)
	hstsWarnLeadingZero = "max_age.leading_zero" // max-age=0123
)

// hstsHeader is a parsed Strict-Transport-Security value.
type hstsHeader struct {
	// maxAge is the max-age in seconds, -1 if absent or invalid; values
	// beyond int64 saturate.
	maxAge            int64
	includeSubDomains bool
	preload           bool
	errors, warnings  []string
	// unknown lists the unknown directive names.
	unknown []string
}

// valid reports whether browsers apply the header.
func (h hstsHeader) valid() bool { return len(h.errors) == 0 }

// parseHSTS parses one Strict-Transport-Security value.
func parseHSTS(v string) hstsHeader {
	h := hstsHeader{maxAge: -1}
	if strings.TrimSpace(v) == "" {
		h.warnings = append(h.warnings, hstsWarnEmpty)
		h.errors = append(h.errors, hstsErrMaxAgeAbsent)
		return h
	}
	seen := map[string]bool{}
	for _, d := range hstsSplit(v, ';') {
		d = strings.Trim(d, " \t")
		if d == "" {
			h.warnings = hdrAppendUnique(h.warnings, hstsWarnEmptyDir)
			continue
		}
		name, value, hasValue := strings.Cut(d, "=")
		name = strings.ToLower(strings.TrimRight(name, " \t"))
		value = strings.TrimLeft(value, " \t")
		if !hstsToken(name) {
			h.errors = append(h.errors, hstsErrSyntax)
			continue
		}
		quoted := false
		if hasValue {
			var ok bool
			if value, quoted, ok = unquoteDirectiveValue(value); !ok {
				if name == "max-age" && !seen[name] {
					seen[name] = true
					h.errors = append(h.errors, hstsErrMaxAgeBad)
				} else {
					h.errors = append(h.errors, hstsErrSyntax)
				}
				continue
			}
		}
		known := name == "max-age" || name == "includesubdomains" || name == "preload"
		if known && seen[name] {
			h.errors = append(h.errors, hstsErrRepeated)
			continue
		}
		seen[name] = true
		switch name {
		case "max-age":
			switch {
			case !hasValue:
				h.errors = append(h.errors, hstsErrMaxAgeNone)
			case !cspAllDigits(value):
				h.errors = append(h.errors, hstsErrMaxAgeBad)
			default:
				if len(value) > 1 && value[0] == '0' && !quoted {
					h.warnings = append(h.warnings, hstsWarnLeadingZero)
				}
				n, err := strconv.ParseInt(value, 10, 64)
				if err != nil {
					n = math.MaxInt64 // only a range error is possible
				}
				h.maxAge = n
			}
		case "includesubdomains", "preload":
			if hasValue {
				h.errors = append(h.errors, hstsErrValued)
				continue
			}
			if name == "preload" {
				h.preload = true
			} else {
				h.includeSubDomains = true
			}
		default:
			h.warnings = append(h.warnings, hstsWarnUnknown)
			h.unknown = hdrAppendUnique(h.unknown, name)
		}
	}
	if !seen["max-age"] {
		h.errors = append(h.errors, hstsErrMaxAgeAbsent)
	}
	return h
}

// hstsSplit splits s on sep outside double-quoted strings.
func hstsSplit(s string, sep byte) []string {
	var out []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquoteDirectiveValue returns the value of a token or quoted-string
// directive value; ok is false if it is neither.
func unquoteDirectiveValue(v string) (value string, quoted, ok bool) {
	if !strings.HasPrefix(v, `"`) {
		return v, false, hstsToken(v)
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			if i+1 >= len(v) {
				return "", true, false
			}
			i++
			b.WriteByte(v[i])
		case '"':
			return b.String(), true, i == len(v)-1
		default:
			b.WriteByte(c)
		}
	}
	return "", true, false
}

// hstsToken reports whether s is an RFC 9110 token.
func hstsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !sfTChar(s[i]) {
			return false
		}
	}
	return true
}

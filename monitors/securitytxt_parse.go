package monitors

import (
	"bytes"
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Parsing of RFC 9116 security.txt files. parseSecurityTxt turns the bytes
// into field lines (a pure syntactic pass that reports malformed lines
// with their numbers); checkSecurityTxt adds the semantic checks (required
// fields, cardinality, URIs, dates, language tags) at a given time.

// Limits on a security.txt file. RFC 9116 sets none; these follow common
// validators (sectxt, internet.nl) and keep a hostile file cheap to parse.
const (
	stxtMaxBytes     = 32 << 10 // larger files are not parsed at all
	stxtMaxLines     = 1000
	stxtMaxLineRunes = 2048 // per field line, name and value included
)

// Issue codes. The names follow the vocabulary of common validators so
// that results can be compared with theirs.
const (
	// Errors: the file does not conform to RFC 9116.
	stxtFileTooLarge       = "file_too_large"
	stxtTooManyLines       = "too_many_lines"
	stxtBOM                = "bom_present"
	stxtInvalidLine        = "invalid_line"
	stxtInvalidLineEnding  = "invalid_line_ending"
	stxtInvalidUTF8        = "invalid_utf8"
	stxtFieldTooLong       = "field_too_long"
	stxtInvalidURI         = "invalid_uri"
	stxtInvalidContact     = "invalid_contact_scheme"
	stxtInsecureContact    = "insecure_contact_scheme" // http: Contact; validators call it invalid_contact_scheme
	stxtInvalidHTTPSField  = "invalid_https_field"
	stxtInvalidLang        = "invalid_lang"
	stxtMultiLang          = "multi_lang"
	stxtNoContact          = "no_contact"
	stxtNoExpires          = "no_expires"
	stxtMultiExpires       = "multi_expires"
	stxtInvalidExpires     = "invalid_expires"
	stxtExpired            = "expired"
	stxtLongExpiry         = "long_expiry"   // recommendation
	stxtNotSigned          = "not_signed"    // recommendation
	stxtNoCanonical        = "no_canonical"  // recommendation
	stxtNoEncryption       = "no_encryption" // recommendation
	stxtMultiCSAF          = "multi_csaf"    // recommendation
	stxtUnknownField       = "unknown_field" // notification
	stxtPGPSignedHeader    = "-----BEGIN PGP SIGNED MESSAGE-----"
	stxtPGPSignatureHeader = "-----BEGIN PGP SIGNATURE-----"
	stxtPGPSignatureFooter = "-----END PGP SIGNATURE-----"
)

// stxtField is one field line of a security.txt file.
type stxtField struct {
	Name  string // as written
	Value string // without the ": " and trailing white space
	Line  int    // 1-based physical line
}

// stxtIssue is one problem of a security.txt file.
type stxtIssue struct {
	Code  string
	Line  int    // 1-based; 0 for the file as a whole
	Field string // the registered field it concerns, if any
	Msg   string
}

// String renders the issue as "line 3: message".
func (i stxtIssue) String() string {
	if i.Line == 0 {
		return i.Msg
	}
	return fmt.Sprintf("line %d: %s", i.Line, i.Msg)
}

// stxtFile is the syntactic content of a security.txt file.
type stxtFile struct {
	// Fields are the well-formed field lines, in file order.
	Fields []stxtField
	// Signed reports a complete OpenPGP cleartext signature envelope (the
	// signature itself is not verified).
	Signed bool
	// TooLarge reports a file over stxtMaxBytes, which was not parsed.
	TooLarge bool
}

// stxtLine is one physical line.
type stxtLine struct {
	num  int
	raw  string // without the line ending
	text string // raw without trailing white space
}

// parseSecurityTxt parses a security.txt file into its field lines,
// reporting each malformed line with its number. It accepts LF and CR LF
// line endings (RFC 9116 erratum 7743), comments, blank lines, field
// values folded onto lines starting with white space (RFC 5322
// unstructured), and an OpenPGP cleartext signature envelope (RFC 4880
// section 7), whose dash-escaping it reverses.
func parseSecurityTxt(b []byte) (stxtFile, []stxtIssue) {
	var f stxtFile
	var errs []stxtIssue
	if len(b) > stxtMaxBytes {
		f.TooLarge = true
		return f, []stxtIssue{{Code: stxtFileTooLarge, Msg: fmt.Sprintf("the file is %d bytes, over the limit of %d", len(b), stxtMaxBytes)}}
	}
	if rest, ok := bytes.CutPrefix(b, []byte("\ufeff")); ok {
		b = rest
		errs = append(errs, stxtIssue{Code: stxtBOM, Line: 1, Msg: "the file starts with a byte order mark"})
	}
	lines, lineErrs := splitSecurityTxt(b)
	errs = append(errs, lineErrs...)
	if len(lines) > stxtMaxLines {
		errs = append(errs, stxtIssue{Code: stxtTooManyLines, Msg: fmt.Sprintf("the file has %d lines, over the limit of %d", len(lines), stxtMaxLines)})
	}
	content := lines
	if cleartext, trailing, ok := openPGPCleartext(lines); ok {
		f.Signed = true
		content = cleartext
		for _, l := range trailing {
			errs = append(errs, stxtIssue{Code: stxtInvalidLine, Line: l.num, Msg: "text after the end of the OpenPGP signature"})
		}
	}
	fields, fieldErrs := parseSecurityTxtLines(content)
	f.Fields = fields
	errs = append(errs, fieldErrs...)
	slices.SortStableFunc(errs, func(a, b stxtIssue) int { return cmp.Compare(a.Line, b.Line) })
	return f, errs
}

// splitSecurityTxt splits b into physical lines at LF, reporting bare CRs,
// invalid UTF-8 and a last line without a line ending.
func splitSecurityTxt(b []byte) ([]stxtLine, []stxtIssue) {
	var lines []stxtLine
	var errs []stxtIssue
	s := string(b)
	for n := 1; s != ""; n++ {
		text, rest, hasLF := strings.Cut(s, "\n")
		s = rest
		l := stxtLine{num: n}
		if hasLF {
			text = strings.TrimSuffix(text, "\r")
		} else if strings.TrimRight(text, " \t\r") != "" {
			errs = append(errs, stxtIssue{Code: stxtInvalidLineEnding, Line: n, Msg: "the last line does not end with a line feed"})
		}
		if strings.Contains(text, "\r") {
			errs = append(errs, stxtIssue{Code: stxtInvalidLineEnding, Line: n, Msg: "carriage return (CR) without a line feed (LF)"})
		}
		if !utf8.ValidString(text) {
			errs = append(errs, stxtIssue{Code: stxtInvalidUTF8, Line: n, Msg: "the line is not valid UTF-8"})
		}
		l.raw, l.text = text, strings.TrimRight(text, " \t")
		lines = append(lines, l)
	}
	return lines, errs
}

// openPGPCleartext recognises a complete cleartext signature envelope:
// the header line, one or more armor headers including Hash, an empty
// line, the dash-escaped text, and a signature block. It returns the
// unescaped text lines and any non-blank lines after the signature.
func openPGPCleartext(lines []stxtLine) (text, trailing []stxtLine, ok bool) {
	if len(lines) < 3 || lines[0].text != stxtPGPSignedHeader {
		return nil, nil, false
	}
	i, hash := 1, false
	for ; i < len(lines) && lines[i].text != ""; i++ {
		name, _, ok := strings.Cut(lines[i].text, ": ")
		if !ok {
			return nil, nil, false
		}
		hash = hash || name == "Hash"
	}
	if !hash || i == len(lines) {
		return nil, nil, false
	}
	i++ // the empty line ending the armor headers
	start := i
	for ; i < len(lines) && lines[i].text != stxtPGPSignatureHeader; i++ {
	}
	end := i
	for ; i < len(lines) && lines[i].text != stxtPGPSignatureFooter; i++ {
	}
	if end == len(lines) || i == len(lines) {
		return nil, nil, false
	}
	for _, l := range lines[i+1:] {
		if l.text != "" {
			trailing = append(trailing, l)
		}
	}
	for _, l := range lines[start:end] {
		if rest, ok := strings.CutPrefix(l.raw, "- "); ok {
			l.raw, l.text = rest, strings.TrimRight(rest, " \t")
		}
		text = append(text, l)
	}
	return text, trailing, true
}

// parseSecurityTxtLines parses content lines: "Name: value" fields,
// comments, blank lines and folded continuations.
func parseSecurityTxtLines(lines []stxtLine) ([]stxtField, []stxtIssue) {
	var fields []stxtField
	var errs []stxtIssue
	last := -1 // index in fields of the field a continuation line extends
	for _, l := range lines {
		t := l.text
		switch {
		case t == "":
			last = -1
			continue
		case t[0] == '#':
			last = -1
			continue
		case t[0] == ' ' || t[0] == '\t':
			if last >= 0 {
				fields[last].Value += t
				continue
			}
			errs = append(errs, stxtIssue{Code: stxtInvalidLine, Line: l.num, Msg: "a line may not start with white space unless it continues a field"})
			continue
		}
		last = -1
		// field = name ":" SP value; the value of an unregistered field
		// (RFC 5322 unstructured) may be empty, that of a registered one not.
		name, value, ok := strings.Cut(l.raw, ":")
		_, kind := stxtFieldKindOf(name)
		value, hasSP := strings.CutPrefix(value, " ")
		value = strings.TrimRight(value, " \t")
		switch {
		case !ok:
			errs = append(errs, stxtIssue{Code: stxtInvalidLine, Line: l.num, Msg: "not a field (Name: value), a comment (#) or a blank line"})
			continue
		case !stxtIsFieldName(name):
			errs = append(errs, stxtIssue{Code: stxtInvalidLine, Line: l.num, Msg: fmt.Sprintf("invalid field name %q (printable ASCII without spaces or colons)", stxtTruncate(name, 40))})
			continue
		case !hasSP:
			errs = append(errs, stxtIssue{Code: stxtInvalidLine, Line: l.num, Msg: fmt.Sprintf("field %s needs one space after the colon", name)})
			continue
		case kind != stxtKindUnregistered && strings.TrimLeft(value, " \t") == "":
			errs = append(errs, stxtIssue{Code: stxtInvalidLine, Line: l.num, Msg: fmt.Sprintf("field %s has no value", name)})
			continue
		case utf8.RuneCountInString(t) > stxtMaxLineRunes:
			errs = append(errs, stxtIssue{Code: stxtFieldTooLong, Line: l.num, Msg: fmt.Sprintf("field %s is longer than %d characters", name, stxtMaxLineRunes)})
			continue
		}
		fields = append(fields, stxtField{Name: name, Value: value, Line: l.num})
		last = len(fields) - 1
	}
	return fields, errs
}

// stxtIsFieldName reports whether s is a field name: one or more printable
// ASCII characters other than ":" (RFC 5322 ftext).
func stxtIsFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ':' {
			return false
		}
	}
	return true
}

// stxtReport is the checked content of a security.txt file.
type stxtReport struct {
	File stxtFile
	// Errors are the RFC 9116 violations, Recommendations the advice (long
	// expiry, unsigned, ...), Notices the unknown fields.
	Errors, Recommendations, Notices []stxtIssue

	Contact, Acknowledgments, Canonical, CSAF, Encryption, Hiring, Policy, PreferredLanguages []string
	// Expires is the value of the first Expires field, ExpiresAt its time
	// (zero if invalid) and ExpiresLine its line.
	Expires     string
	ExpiresAt   time.Time
	ExpiresLine int
	// InsecureContact are the http: Contact values (not in Contact).
	InsecureContact []string
	// ContactLines counts Contact fields, valid or not.
	ContactLines int
}

// Valid reports whether the file conforms to RFC 9116.
func (r *stxtReport) Valid() bool { return len(r.Errors) == 0 }

// stxtFieldKind is how a registered field's value is checked.
type stxtFieldKind int

const (
	stxtKindURI          stxtFieldKind = iota // any URI; web URIs must be https
	stxtKindHTTPS                             // an https URI
	stxtKindContact                           // mailto:, https: or tel:
	stxtKindExpires                           // an RFC 3339 date-time
	stxtKindLanguages                         // comma-separated language tags
	stxtKindUnregistered                      // not registered: not checked
)

// stxtFieldKindOf returns the canonical name and kind of a field name,
// matched case-insensitively.
func stxtFieldKindOf(name string) (string, stxtFieldKind) {
	switch strings.ToLower(name) {
	case "acknowledgments":
		return "Acknowledgments", stxtKindHTTPS
	case "canonical":
		return "Canonical", stxtKindHTTPS
	case "contact":
		return "Contact", stxtKindContact
	case "csaf":
		return "CSAF", stxtKindHTTPS
	case "encryption":
		return "Encryption", stxtKindURI
	case "expires":
		return "Expires", stxtKindExpires
	case "hiring":
		return "Hiring", stxtKindHTTPS
	case "policy":
		return "Policy", stxtKindHTTPS
	case "preferred-languages":
		return "Preferred-Languages", stxtKindLanguages
	}
	return name, stxtKindUnregistered
}

// checkSecurityTxt parses b and checks it against RFC 9116 at time now:
// one or more Contact, exactly one Expires in the future, at most one
// Preferred-Languages, valid URIs with the schemes each field allows.
// maxExpiry > 0 recommends an Expires no further ahead than that.
func checkSecurityTxt(b []byte, now time.Time, maxExpiry time.Duration) stxtReport {
	f, errs := parseSecurityTxt(b)
	r := stxtReport{File: f, Errors: errs}
	if f.TooLarge {
		return r
	}
	var later []stxtIssue // cardinality errors, reported after the line errors
	var expiresN, langN, csafN, canonicalN, encryptionN int
	mailto := false
	for _, fl := range f.Fields {
		name, kind := stxtFieldKindOf(fl.Name)
		v := fl.Value
		bad := func(code, format string, args ...any) {
			r.Errors = append(r.Errors, stxtIssue{Code: code, Line: fl.Line, Field: name, Msg: name + ": " + fmt.Sprintf(format, args...)})
		}
		switch kind {
		case stxtKindUnregistered:
			r.Notices = append(r.Notices, stxtIssue{Code: stxtUnknownField, Line: fl.Line, Msg: fmt.Sprintf("unknown field %q", stxtTruncate(fl.Name, 40))})
		case stxtKindExpires:
			expiresN++
			if expiresN == 2 {
				later = append(later, stxtIssue{Code: stxtMultiExpires, Line: fl.Line, Field: "Expires", Msg: "Expires: the field appears more than once"})
			}
			t, err := parseStxtTime(v)
			if err != nil {
				bad(stxtInvalidExpires, "%q is not an RFC 3339 date-time such as 2026-12-31T23:59:59Z", stxtTruncate(v, 40))
				if expiresN == 1 {
					r.Expires, r.ExpiresLine = v, fl.Line
				}
				continue
			}
			if expiresN == 1 {
				r.Expires, r.ExpiresAt, r.ExpiresLine = v, t, fl.Line
			}
		case stxtKindLanguages:
			langN++
			if langN == 2 {
				later = append(later, stxtIssue{Code: stxtMultiLang, Line: fl.Line, Field: "Preferred-Languages", Msg: "Preferred-Languages: the field appears more than once"})
			}
			var tags []string
			ok := true
			for tag := range strings.SplitSeq(v, ",") {
				tag = strings.Trim(tag, " \t")
				if !stxtValidLangTag(tag) {
					ok = false
					bad(stxtInvalidLang, "%q is not an RFC 5646 language tag", stxtTruncate(tag, 40))
					break
				}
				tags = append(tags, tag)
			}
			if ok {
				r.PreferredLanguages = append(r.PreferredLanguages, tags...)
			}
		default:
			switch name {
			case "Contact":
				r.ContactLines++
				if strings.HasPrefix(strings.ToLower(v), "mailto:") {
					mailto = true
				}
			case "CSAF":
				csafN++
				if csafN == 2 {
					r.Recommendations = append(r.Recommendations, stxtIssue{Code: stxtMultiCSAF, Line: fl.Line, Msg: "CSAF: the field appears more than once"})
				}
			case "Canonical":
				canonicalN++
			case "Encryption":
				encryptionN++
			}
			scheme, authority, ok := parseStxtURI(v)
			if !ok {
				bad(stxtInvalidURI, "%q is not a URI", stxtTruncate(v, 60))
				continue
			}
			switch {
			case kind == stxtKindContact && scheme == "http":
				bad(stxtInsecureContact, "http: is not allowed; use https:")
				r.InsecureContact = append(r.InsecureContact, v)
				continue
			case kind == stxtKindContact && scheme != "mailto" && scheme != "https" && scheme != "tel":
				bad(stxtInvalidContact, "scheme %s: is not allowed (use mailto:, https: or tel:)", scheme)
				continue
			case kind == stxtKindHTTPS && scheme != "https",
				kind == stxtKindURI && (scheme == "http" || scheme == "ftp" || authority && scheme != "https"):
				bad(stxtInvalidHTTPSField, "a web URI must start with https://, not %s:", scheme)
				continue
			}
			*r.uris(name) = append(*r.uris(name), v)
		}
	}
	if r.ContactLines == 0 {
		r.Errors = append(r.Errors, stxtIssue{Code: stxtNoContact, Field: "Contact", Msg: "no Contact field (at least one is required)"})
	}
	if expiresN == 0 {
		r.Errors = append(r.Errors, stxtIssue{Code: stxtNoExpires, Field: "Expires", Msg: "no Expires field (exactly one is required)"})
	}
	r.Errors = append(r.Errors, later...)
	if !r.ExpiresAt.IsZero() {
		switch {
		case !r.ExpiresAt.After(now):
			r.Errors = append(r.Errors, stxtIssue{Code: stxtExpired, Line: r.ExpiresLine, Field: "Expires", Msg: "Expires: the file expired on " + r.ExpiresAt.UTC().Format(time.RFC3339)})
		case maxExpiry > 0 && r.ExpiresAt.Sub(now) > maxExpiry:
			r.Recommendations = append(r.Recommendations, stxtIssue{Code: stxtLongExpiry, Line: r.ExpiresLine, Field: "Expires",
				Msg: fmt.Sprintf("Expires: %s is %d days ahead (more than %d)", r.ExpiresAt.UTC().Format(time.RFC3339), int(r.ExpiresAt.Sub(now)/(24*time.Hour)), int(maxExpiry/(24*time.Hour)))})
		}
	}
	if mailto && encryptionN == 0 {
		r.Recommendations = append(r.Recommendations, stxtIssue{Code: stxtNoEncryption, Msg: "an email Contact without an Encryption key"})
	}
	if !f.Signed {
		r.Recommendations = append(r.Recommendations, stxtIssue{Code: stxtNotSigned, Msg: "the file is not signed"})
	} else if canonicalN == 0 {
		r.Recommendations = append(r.Recommendations, stxtIssue{Code: stxtNoCanonical, Msg: "a signed file without a Canonical field"})
	}
	return r
}

// uris returns the list of r holding the values of URI field name.
func (r *stxtReport) uris(name string) *[]string {
	switch name {
	case "Contact":
		return &r.Contact
	case "Acknowledgments":
		return &r.Acknowledgments
	case "Canonical":
		return &r.Canonical
	case "CSAF":
		return &r.CSAF
	case "Encryption":
		return &r.Encryption
	case "Hiring":
		return &r.Hiring
	default:
		return &r.Policy
	}
}

// parseStxtTime parses an RFC 3339 date-time (section 5.6), accepting a
// lower-case t and z (RFC 9116 erratum 7264) and fractional seconds.
func parseStxtTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(v))
	if err != nil {
		return time.Time{}, err
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return time.Time{}, fmt.Errorf("offset out of range")
	}
	return t, nil
}

// parseStxtURI checks that v is an RFC 3986 URI (ASCII only) with a
// non-empty part after the scheme, and, if it has an authority, a host.
// It returns the lower-cased scheme and whether there is an authority.
func parseStxtURI(v string) (scheme string, authority, ok bool) {
	i := strings.IndexByte(v, ':')
	if i < 1 || !stxtIsLetter(v[0]) {
		return "", false, false
	}
	for j := 1; j < i; j++ {
		c := v[j]
		if !stxtIsLetter(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return "", false, false
		}
	}
	scheme = strings.ToLower(v[:i])
	rest := v[i+1:]
	for j := 0; j < len(rest); j++ {
		c := rest[j]
		switch {
		case c == '%':
			if j+2 >= len(rest) || !stxtIsHex(rest[j+1]) || !stxtIsHex(rest[j+2]) {
				return "", false, false
			}
			j += 2
		case stxtIsLetter(c), c >= '0' && c <= '9', strings.IndexByte("-._~:/?#[]@!$&'()*+,;=", c) >= 0:
		default:
			return "", false, false
		}
	}
	if strings.Count(rest, "#") > 1 {
		return "", false, false
	}
	hier, _, _ := strings.Cut(rest, "#")
	hier, _, _ = strings.Cut(hier, "?")
	if hier == "" {
		return "", false, false
	}
	if strings.HasPrefix(hier, "//") {
		u, err := url.Parse(v)
		if err != nil || u.Hostname() == "" {
			return "", false, false
		}
		return scheme, true, true
	}
	if strings.ContainsAny(hier, "[]") {
		return "", false, false
	}
	return scheme, false, true
}

func stxtIsLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func stxtIsHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// stxtValidLangTag reports whether tag is a valid RFC 5646 language tag: well
// formed, without a repeated variant or extension singleton.
func stxtValidLangTag(tag string) bool {
	if tag == "" {
		return false
	}
	lower := strings.ToLower(tag)
	switch lower {
	case "en-gb-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux",
		"i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-be-fr", "sgn-be-nl", "sgn-ch-de",
		"art-lojban", "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu", "zh-hakka", "zh-min", "zh-min-nan", "zh-xiang":
		return true // grandfathered
	}
	parts := strings.Split(lower, "-")
	for _, p := range parts {
		if len(p) < 1 || len(p) > 8 || !stxtIsAlnum(p) {
			return false
		}
	}
	if parts[0] == "x" {
		return len(parts) > 1 // private use only
	}
	lang := parts[0]
	if len(lang) < 2 || !stxtIsAlpha(lang) {
		return false
	}
	i := 1
	if len(lang) <= 3 {
		for n := 0; n < 3 && i < len(parts) && len(parts[i]) == 3 && stxtIsAlpha(parts[i]); n++ {
			i++ // extlang
		}
	}
	if i < len(parts) && len(parts[i]) == 4 && stxtIsAlpha(parts[i]) {
		i++ // script
	}
	if i < len(parts) && (len(parts[i]) == 2 && stxtIsAlpha(parts[i]) || len(parts[i]) == 3 && stxtIsDigits(parts[i])) {
		i++ // region
	}
	seen := map[string]bool{}
	for ; i < len(parts); i++ { // variants
		p := parts[i]
		if !(len(p) >= 5 || len(p) == 4 && p[0] >= '0' && p[0] <= '9') {
			break
		}
		if seen[p] {
			return false
		}
		seen[p] = true
	}
	for i < len(parts) && len(parts[i]) == 1 && parts[i] != "x" { // extensions
		if seen[parts[i]] {
			return false
		}
		seen[parts[i]] = true
		i++
		n := 0
		for ; i < len(parts) && len(parts[i]) >= 2; i++ {
			n++
		}
		if n == 0 {
			return false
		}
	}
	if i < len(parts) && parts[i] == "x" { // private use
		return i+1 < len(parts)
	}
	return i == len(parts)
}

func stxtIsAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !stxtIsLetter(s[i]) && !(s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return true
}

func stxtIsAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if !stxtIsLetter(s[i]) {
			return false
		}
	}
	return true
}

func stxtIsDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// stxtTruncate shortens s to n runes for a message.
func stxtTruncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

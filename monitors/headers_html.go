package monitors

// Extraction of the <meta> elements of an HTML document's head that change
// its security policy: <meta http-equiv="Content-Security-Policy"> and
// <meta name="referrer">. This is a small tokenizer, not an HTML parser: it
// reads the start of the document up to the end of the head (</head>,
// <body> or the first element that cannot be in a head), skips comments and
// the content of raw-text elements, and decodes character references in
// attribute values.

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// htmlMeta is what the head of a document says about security policy.
type htmlMeta struct {
	// csp are the content attributes of <meta http-equiv=
	// "content-security-policy">, in document order.
	csp []string
	// referrer are the content attributes of <meta name="referrer">.
	referrer []string
}

// htmlHeadElements may appear in a document's head; any other start tag ends
// the head (the HTML parser would open the body there).
var htmlHeadElements = map[string]bool{
	"html": true, "head": true, "meta": true, "link": true, "title": true, "style": true,
	"script": true, "noscript": true, "base": true, "template": true,
}

// htmlRawTextElements hold text that is not parsed for tags.
var htmlRawTextElements = map[string]bool{
	"script": true, "style": true, "title": true, "textarea": true, "noscript": true,
	"template": true, "xmp": true, "iframe": true, "noembed": true, "noframes": true,
}

// parseHTMLMeta returns the policy <meta> elements in the head of doc.
func parseHTMLMeta(doc []byte) htmlMeta {
	var out htmlMeta
	s := string(doc)
	for i := 0; i < len(s); {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			break
		}
		i += lt
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				return out
			}
			i += 4 + end + 3
			continue
		case strings.HasPrefix(rest, "<!") || strings.HasPrefix(rest, "<?"):
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				return out
			}
			i += end + 1
			continue
		case strings.HasPrefix(rest, "</"):
			name, _ := htmlTagName(rest[2:])
			if name == "head" || name == "html" {
				return out
			}
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				return out
			}
			i += end + 1
			continue
		}
		name, n := htmlTagName(rest[1:])
		if name == "" {
			i++ // a stray '<' in text
			continue
		}
		if !htmlHeadElements[name] {
			return out
		}
		attrs, consumed, ok := htmlAttributes(rest[1+n:])
		if !ok {
			return out
		}
		i += 1 + n + consumed
		if name == "meta" {
			if strings.EqualFold(attrs["http-equiv"].value, "content-security-policy") && attrs["content"].set {
				out.csp = append(out.csp, attrs["content"].value)
			}
			if strings.EqualFold(attrs["name"].value, "referrer") && attrs["content"].set {
				out.referrer = append(out.referrer, attrs["content"].value)
			}
		}
		if htmlRawTextElements[name] {
			end := htmlIndexFold(s[i:], "</"+name)
			if end < 0 {
				return out
			}
			i += end
		}
	}
	return out
}

// htmlTagName reads a tag name at the start of s (lower-cased) and returns its
// length; "" if s does not start with a letter.
func htmlTagName(s string) (string, int) {
	n := 0
	for n < len(s) && (sfAlpha(s[n]) || n > 0 && (sfDigit(s[n]) || s[n] == '-')) {
		n++
	}
	return strings.ToLower(s[:n]), n
}

// htmlIndexFold is strings.Index, ASCII case-insensitively.
func htmlIndexFold(s, sub string) int {
	return strings.Index(strings.ToLower(s), strings.ToLower(sub))
}

// htmlAttr is an attribute value and whether the attribute was present.
type htmlAttr struct {
	value string
	set   bool
}

// htmlAttributes reads the attributes of a start tag up to and including
// its '>'; the first occurrence of a name wins, as in HTML.
func htmlAttributes(s string) (attrs map[string]htmlAttr, consumed int, ok bool) {
	attrs = map[string]htmlAttr{}
	i := 0
	for {
		for i < len(s) && (cspSpace(rune(s[i])) || s[i] == '/') {
			i++
		}
		if i >= len(s) {
			return attrs, i, false
		}
		if s[i] == '>' {
			return attrs, i + 1, true
		}
		start := i
		for i < len(s) && !cspSpace(rune(s[i])) && s[i] != '/' && s[i] != '>' && s[i] != '=' {
			i++
		}
		name := strings.ToLower(s[start:i])
		for i < len(s) && cspSpace(rune(s[i])) {
			i++
		}
		value := ""
		if i < len(s) && s[i] == '=' {
			i++
			for i < len(s) && cspSpace(rune(s[i])) {
				i++
			}
			if i < len(s) && (s[i] == '"' || s[i] == '\'') {
				q := s[i]
				end := strings.IndexByte(s[i+1:], q)
				if end < 0 {
					return attrs, len(s), false
				}
				value = s[i+1 : i+1+end]
				i += end + 2
			} else {
				vs := i
				for i < len(s) && !cspSpace(rune(s[i])) && s[i] != '>' {
					i++
				}
				value = s[vs:i]
			}
		}
		if _, seen := attrs[name]; !seen && name != "" {
			attrs[name] = htmlAttr{value: htmlDecodeEntities(value), set: true}
		}
	}
}

// htmlNamedEntities are the character references decoded in attribute values;
// policies rarely need any other.
var htmlNamedEntities = map[string]string{
	"amp": "&", "quot": `"`, "apos": "'", "lt": "<", "gt": ">", "nbsp": "\u00a0",
}

// htmlDecodeEntities decodes numeric and common named character references.
func htmlDecodeEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			b.WriteByte(s[i])
			continue
		}
		semi := strings.IndexByte(s[i:], ';')
		if semi < 0 || semi > 10 {
			b.WriteByte('&')
			continue
		}
		ref := s[i+1 : i+semi]
		if r, ok := htmlNumericRef(ref); ok {
			b.WriteRune(r)
			i += semi
			continue
		}
		if v, ok := htmlNamedEntities[ref]; ok {
			b.WriteString(v)
			i += semi
			continue
		}
		b.WriteByte('&')
	}
	return b.String()
}

func htmlNumericRef(ref string) (rune, bool) {
	if !strings.HasPrefix(ref, "#") || len(ref) < 2 {
		return 0, false
	}
	base, digits := 10, ref[1:]
	if digits[0] == 'x' || digits[0] == 'X' {
		base, digits = 16, digits[1:]
	}
	n, err := strconv.ParseUint(digits, base, 32)
	if err != nil || n == 0 || !utf8.ValidRune(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

package monitors

// A parser for Structured Field Values for HTTP (RFC 9651, which obsoletes
// RFC 8941): Lists, Dictionaries and Items with their Parameters, and every
// bare item type (Integer, Decimal, String, Token, Byte Sequence, Boolean,
// Date, Display String). The headers monitor uses it for
// Permissions-Policy, a Dictionary.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// sfToken is a Token bare item.
type sfToken string

// sfDate is a Date bare item: seconds since the Unix epoch.
type sfDate int64

// sfDisplayString is a Display String bare item (Unicode text).
type sfDisplayString string

// sfParam is one parameter of an item or inner list.
type sfParam struct {
	Key   string
	Value any // a bare item
}

// sfItem is an Item: a bare item (int64, float64 for a Decimal, string,
// sfToken, []byte, bool, sfDate or sfDisplayString) and its parameters.
type sfItem struct {
	Value  any
	Params []sfParam
}

// sfInnerList is an Inner List and its parameters.
type sfInnerList struct {
	Items  []sfItem
	Params []sfParam
}

// sfMember is one member of a List (Key empty) or Dictionary: Value is an
// sfItem or an sfInnerList.
type sfMember struct {
	Key   string
	Value any
}

// errSF is the cause of every structured-field parse error.
var errSF = errors.New("invalid structured field")

// sfParser holds the unparsed rest of a field value.
type sfParser struct {
	s   string
	pos int
}

func (p *sfParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", errSF, p.pos, fmt.Sprintf(format, args...))
}

func (p *sfParser) empty() bool { return p.pos >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.empty() {
		return 0
	}
	return p.s[p.pos]
}

func (p *sfParser) skipSP() {
	for !p.empty() && p.s[p.pos] == ' ' {
		p.pos++
	}
}

func (p *sfParser) skipOWS() {
	for !p.empty() && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// sfJoinLines combines the lines of one field the way RFC 9110 §5.3
// allows, for parsing as one value.
func sfJoinLines(lines []string) string { return strings.Join(lines, ", ") }

// parseSFDictionary parses the lines of a Dictionary field. A key that
// appears again keeps its first position and takes the later value.
func parseSFDictionary(lines []string) ([]sfMember, error) {
	p := &sfParser{s: sfJoinLines(lines)}
	p.skipSP()
	var out []sfMember
	index := map[string]int{}
	for !p.empty() {
		key, err := p.parseKey()
		if err != nil {
			return nil, err
		}
		var member any
		if p.peek() == '=' {
			p.pos++
			if member, err = p.parseItemOrInnerList(); err != nil {
				return nil, err
			}
		} else {
			params, err := p.parseParams()
			if err != nil {
				return nil, err
			}
			member = sfItem{Value: true, Params: params}
		}
		if i, ok := index[key]; ok {
			out[i].Value = member
		} else {
			index[key] = len(out)
			out = append(out, sfMember{Key: key, Value: member})
		}
		if err := p.nextMember(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseSFList parses the lines of a List field.
func parseSFList(lines []string) ([]sfMember, error) {
	p := &sfParser{s: sfJoinLines(lines)}
	p.skipSP()
	var out []sfMember
	for !p.empty() {
		v, err := p.parseItemOrInnerList()
		if err != nil {
			return nil, err
		}
		out = append(out, sfMember{Value: v})
		if err := p.nextMember(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseSFItem parses the lines of an Item field.
func parseSFItem(lines []string) (sfItem, error) {
	p := &sfParser{s: sfJoinLines(lines)}
	p.skipSP()
	it, err := p.parseItem()
	if err != nil {
		return sfItem{}, err
	}
	p.skipSP()
	if !p.empty() {
		return sfItem{}, p.errorf("unexpected %q after the item", p.peek())
	}
	return it, nil
}

// nextMember consumes the separator after a List or Dictionary member:
// optional whitespace, then the end or a comma that another member follows.
func (p *sfParser) nextMember() error {
	p.skipOWS()
	if p.empty() {
		return nil
	}
	if c := p.peek(); c != ',' {
		return p.errorf("expected a comma, got %q", c)
	}
	p.pos++
	p.skipOWS()
	if p.empty() {
		return p.errorf("trailing comma")
	}
	return nil
}

func (p *sfParser) parseItemOrInnerList() (any, error) {
	if p.peek() == '(' {
		return p.parseInnerList()
	}
	return p.parseItem()
}

func (p *sfParser) parseInnerList() (sfInnerList, error) {
	p.pos++ // (
	var items []sfItem
	for !p.empty() {
		p.skipSP()
		if p.peek() == ')' {
			p.pos++
			params, err := p.parseParams()
			if err != nil {
				return sfInnerList{}, err
			}
			return sfInnerList{Items: items, Params: params}, nil
		}
		it, err := p.parseItem()
		if err != nil {
			return sfInnerList{}, err
		}
		items = append(items, it)
		if c := p.peek(); c != ' ' && c != ')' {
			return sfInnerList{}, p.errorf("expected a space or ) in an inner list, got %q", c)
		}
	}
	return sfInnerList{}, p.errorf("unterminated inner list")
}

func (p *sfParser) parseItem() (sfItem, error) {
	v, err := p.parseBareItem()
	if err != nil {
		return sfItem{}, err
	}
	params, err := p.parseParams()
	if err != nil {
		return sfItem{}, err
	}
	return sfItem{Value: v, Params: params}, nil
}

// parseParams parses parameters; a key that appears again keeps its first
// position and takes the later value.
func (p *sfParser) parseParams() ([]sfParam, error) {
	var out []sfParam
	var index map[string]int // key → position in out
	for p.peek() == ';' {
		p.pos++
		p.skipSP()
		key, err := p.parseKey()
		if err != nil {
			return nil, err
		}
		var v any = true
		if p.peek() == '=' {
			p.pos++
			if v, err = p.parseBareItem(); err != nil {
				return nil, err
			}
		}
		if i, ok := index[key]; ok {
			out[i].Value = v
			continue
		}
		if index == nil {
			index = map[string]int{}
		}
		index[key] = len(out)
		out = append(out, sfParam{Key: key, Value: v})
	}
	return out, nil
}

func sfLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func sfDigit(c byte) bool   { return c >= '0' && c <= '9' }
func sfAlpha(c byte) bool   { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// sfTChar reports whether c is an RFC 9110 tchar.
func sfTChar(c byte) bool {
	return sfAlpha(c) || sfDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *sfParser) parseKey() (string, error) {
	if c := p.peek(); !sfLCAlpha(c) && c != '*' {
		return "", p.errorf("a key must start with a lower-case letter or *, got %q", c)
	}
	start := p.pos
	for !p.empty() {
		c := p.s[p.pos]
		if !sfLCAlpha(c) && !sfDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.pos++
	}
	return p.s[start:p.pos], nil
}

func (p *sfParser) parseBareItem() (any, error) {
	c := p.peek()
	switch {
	case c == '-' || sfDigit(c):
		return p.parseNumber()
	case c == '"':
		return p.parseString()
	case c == '*' || sfAlpha(c):
		return p.parseToken(), nil
	case c == ':':
		return p.parseByteSequence()
	case c == '?':
		return p.parseBoolean()
	case c == '@':
		return p.parseDate()
	case c == '%':
		return p.parseDisplayString()
	case p.empty():
		return nil, p.errorf("missing value")
	default:
		return nil, p.errorf("unexpected %q", c)
	}
}

// parseNumber parses an Integer (int64, at most 15 digits) or a Decimal
// (float64, at most 12 integer and 3 fractional digits).
func (p *sfParser) parseNumber() (any, error) {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	if !sfDigit(p.peek()) {
		return nil, p.errorf("a number needs a digit")
	}
	digits, dot := 0, -1
	for !p.empty() {
		c := p.s[p.pos]
		if sfDigit(c) {
			digits++
		} else if c == '.' && dot < 0 {
			if digits > 12 {
				return nil, p.errorf("a decimal has at most 12 integer digits")
			}
			dot = digits
		} else {
			break
		}
		p.pos++
		if dot < 0 && digits > 15 {
			return nil, p.errorf("an integer has at most 15 digits")
		}
		if dot >= 0 && digits > 15 {
			return nil, p.errorf("a decimal has at most 15 digits")
		}
	}
	text := p.s[start:p.pos]
	if dot < 0 {
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, p.errorf("bad integer %q", text)
		}
		return n, nil
	}
	if frac := digits - dot; frac == 0 {
		return nil, p.errorf("a decimal cannot end with a dot")
	} else if frac > 3 {
		return nil, p.errorf("a decimal has at most 3 fractional digits")
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, p.errorf("bad decimal %q", text)
	}
	return f, nil
}

func (p *sfParser) parseString() (string, error) {
	p.pos++ // "
	var b strings.Builder
	for !p.empty() {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == '\\':
			if p.empty() {
				return "", p.errorf("unterminated escape")
			}
			next := p.s[p.pos]
			p.pos++
			if next != '"' && next != '\\' {
				return "", p.errorf("bad escape \\%c", next)
			}
			b.WriteByte(next)
		case c == '"':
			return b.String(), nil
		case c < 0x20 || c >= 0x7f:
			return "", p.errorf("a string holds only printable ASCII")
		default:
			b.WriteByte(c)
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *sfParser) parseToken() sfToken {
	start := p.pos
	p.pos++ // first character checked by the caller
	for !p.empty() {
		c := p.s[p.pos]
		if !sfTChar(c) && c != ':' && c != '/' {
			break
		}
		p.pos++
	}
	return sfToken(p.s[start:p.pos])
}

func (p *sfParser) parseByteSequence() ([]byte, error) {
	p.pos++ // :
	end := strings.IndexByte(p.s[p.pos:], ':')
	if end < 0 {
		return nil, p.errorf("unterminated byte sequence")
	}
	text := p.s[p.pos : p.pos+end]
	for i := 0; i < len(text); i++ {
		if c := text[i]; !sfAlpha(c) && !sfDigit(c) && c != '+' && c != '/' && c != '=' {
			return nil, p.errorf("a byte sequence holds only base64")
		}
	}
	p.pos += end + 1
	// Padding may be left out (RFC 9651 §4.2.7).
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
	if err != nil {
		return nil, p.errorf("bad base64 in a byte sequence")
	}
	return b, nil
}

func (p *sfParser) parseBoolean() (bool, error) {
	p.pos++ // ?
	switch p.peek() {
	case '1':
		p.pos++
		return true, nil
	case '0':
		p.pos++
		return false, nil
	}
	return false, p.errorf("a boolean is ?0 or ?1")
}

func (p *sfParser) parseDate() (sfDate, error) {
	p.pos++ // @
	n, err := p.parseNumber()
	if err != nil {
		return 0, err
	}
	i, ok := n.(int64)
	if !ok {
		return 0, p.errorf("a date is an integer")
	}
	return sfDate(i), nil
}

func (p *sfParser) parseDisplayString() (sfDisplayString, error) {
	p.pos++ // %
	if p.peek() != '"' {
		return "", p.errorf(`a display string starts with %%"`)
	}
	p.pos++
	var b []byte
	for !p.empty() {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c < 0x20 || c >= 0x7f:
			return "", p.errorf("a display string holds only printable ASCII")
		case c == '%':
			if p.pos+2 > len(p.s) {
				return "", p.errorf("truncated percent escape")
			}
			hi, ok1 := sfLowerHex(p.s[p.pos])
			lo, ok2 := sfLowerHex(p.s[p.pos+1])
			if !ok1 || !ok2 {
				return "", p.errorf("a percent escape is two lower-case hex digits")
			}
			p.pos += 2
			b = append(b, hi<<4|lo)
		case c == '"':
			if !utf8.Valid(b) {
				return "", p.errorf("a display string must be UTF-8")
			}
			return sfDisplayString(b), nil
		default:
			b = append(b, c)
		}
	}
	return "", p.errorf("unterminated display string")
}

func sfLowerHex(c byte) (byte, bool) {
	switch {
	case sfDigit(c):
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

package yamlnode

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// envName matches a valid environment variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Substitute replaces every ${NAME} in s with value(NAME) and $$ with $;
// any other $ stays as it is. A malformed reference, or an error from
// value, stops it: at is then the byte offset in s of the offending $.
// value is called only for well-formed names.
func Substitute(s string, value func(name string) (string, error)) (out string, at int, err error) {
	if !strings.Contains(s, "$") {
		return s, 0, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", i, errors.New("unterminated ${ (write $$ for a literal $)")
			}
			name := s[i+2 : i+2+end]
			if !envName.MatchString(name) {
				return "", i, fmt.Errorf("invalid environment variable reference ${%s} (write $$ for a literal $)", name)
			}
			v, err := value(name)
			if err != nil {
				return "", i, err
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), 0, nil
}

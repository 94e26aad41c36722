package playbooks

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/secopsd/secopsd/internal/yamlnode"
)

// envName matches a valid environment variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// substitute replaces every ${NAME} in s with value(NAME) and $$ with $;
// any other $ stays as it is. A malformed reference is an error.
func substitute(s string, value func(name string) (string, error)) (string, error) {
	out, _, err := yamlnode.Substitute(s, value)
	return out, err
}

// envRefs returns the variables that s references as ${NAME}, in order,
// or an error for a malformed reference. It never reads the environment.
func envRefs(s string) ([]string, error) {
	var names []string
	_, err := substitute(s, func(name string) (string, error) {
		names = append(names, name)
		return "", nil
	})
	return names, err
}

// errUnset is wrapped by the error of a reference to an unset variable.
var errUnset = errors.New("environment variable is not set")

// expandEnv resolves the ${NAME} references of s with lookup. It returns
// the expanded text and the values it substituted, so that the caller can
// keep them out of its output; an unset variable is an error naming it.
func expandEnv(s string, lookup func(string) (string, bool)) (string, []string, error) {
	var used []string
	out, err := substitute(s, func(name string) (string, error) {
		v, ok := lookup(name)
		if !ok {
			return "", fmt.Errorf("%w: %s (referenced as ${%s})", errUnset, name, name)
		}
		used = append(used, v)
		return v, nil
	})
	return out, used, err
}

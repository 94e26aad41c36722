package yamlnode

import (
	"regexp"
	"strconv"
	"strings"
)

// JoinPath appends a mapping key to a key path.
func JoinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// IndexPath appends a list index to a key path.
func IndexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// plainKey matches map keys that need no quoting in a key path.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// MapKeyPath appends a key of a free-form map (labels, headers) to a key
// path, quoting keys that contain dots, brackets or spaces:
// headers["X Token"].
func MapKeyPath(path, key string) string {
	if plainKey.MatchString(key) {
		return JoinPath(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// UnknownKeyMessage explains an unknown key: what it might be (belongsTo,
// else the closest valid key) and the keys that are valid for owner (which
// may be empty).
func UnknownKeyMessage(key string, valid []string, owner, belongsTo string) string {
	var b strings.Builder
	b.WriteString("unknown key")
	if belongsTo != "" {
		b.WriteString("; it belongs to " + belongsTo)
	} else if s := Closest(key, valid); s != "" {
		b.WriteString("; did you mean " + strconv.Quote(s) + "?")
	}
	b.WriteString(" (valid keys")
	if owner != "" {
		b.WriteString(" for " + owner)
	}
	b.WriteString(": " + strings.Join(valid, ", ") + ")")
	return b.String()
}

// Closest returns the key of valid nearest to key if it is at most two
// edits away (the first of equally near ones), or "" if none is that close.
func Closest(key string, valid []string) string {
	best, bestDist := "", 3
	for _, v := range valid {
		if dist := editDistance(key, v); dist < bestDist {
			best, bestDist = v, dist
		}
	}
	return best
}

// maxEditLen bounds the strings editDistance compares, so that a hostile
// file's long key costs little; longer ones count as maxEditLen apart.
const maxEditLen = 64

// editDistance is the Levenshtein distance between a and b in bytes.
func editDistance(a, b string) int {
	if len(a) > maxEditLen || len(b) > maxEditLen {
		return maxEditLen
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

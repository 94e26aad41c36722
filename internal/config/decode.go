package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/secopsd/secopsd/internal/yamlnode"
)

// The decoder walks a yaml.Node tree against the Go types by reflection
// instead of using yaml.v3's own decoding, so that every error names the
// file, the line and the key path (monitors[0].expect.status), unknown and
// duplicate keys are errors, ${VAR} references are expanded per scalar
// (keeping line numbers right), and Duration, Secret and the polymorphic
// Monitor get their own rules.

var (
	durationType = reflect.TypeFor[Duration]()
	secretType   = reflect.TypeFor[Secret]()
	monitorType  = reflect.TypeFor[Monitor]()
)

// decoder holds the state of decoding one document.
type decoder struct {
	errorList
	// dir is the directory that relative secret files are read from.
	dir string
	// lookupEnv resolves ${VAR} references (os.LookupEnv outside tests).
	lookupEnv func(string) (string, bool)
	// lines maps each decoded key path to the line it was written on, for
	// validation errors.
	lines map[string]int
}

func newDecoder(file, dir string, lookupEnv func(string) (string, bool)) *decoder {
	return &decoder{
		errorList: errorList{file: file},
		dir:       dir,
		lookupEnv: lookupEnv,
		lines:     map[string]int{},
	}
}

// document parses data and returns its root node, nil for an empty
// document. It records an ErrSyntax problem and returns false when data is
// not exactly one well-formed YAML document.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	root, err := yamlnode.Document(data, d.file, "more than one YAML document (remove the extra ---)")
	if err != nil {
		d.errs = append(d.errs, err)
		return nil, false
	}
	return root, true
}

// Short names for the yamlnode helpers that the package's files share.

func resolve(n *yaml.Node) *yaml.Node           { return yamlnode.Resolve(n) }
func isNull(n *yaml.Node) bool                  { return yamlnode.IsNull(n) }
func quote(s string) string                     { return yamlnode.Quote(s) }
func joinPath(path, key string) string          { return yamlnode.JoinPath(path, key) }
func mapKeyPath(path, key string) string        { return yamlnode.MapKeyPath(path, key) }
func closest(key string, valid []string) string { return yamlnode.Closest(key, valid) }
func unknownKeyMessage(key string, valid []string, owner, belongsTo string) string {
	return yamlnode.UnknownKeyMessage(key, valid, owner, belongsTo)
}

// parentPath removes the last element of a key path.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// typeError records a value of the wrong kind.
func (d *decoder) typeError(n *yaml.Node, path, want string) {
	d.add(n.Line, path, ErrType, yamlnode.Expected(want, n))
}

// pair is one key and value of a mapping.
type pair struct {
	name     string
	key, val *yaml.Node
}

// pairs lists the entries of mapping n in order, reporting duplicate and
// non-string keys and applying merge keys (<<: *anchor), whose entries
// yield to the mapping's own.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(k.Line, path, ErrType, yamlnode.Expected("a string as key", k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(v, path)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.add(k.Line, joinPath(path, k.Value), ErrDuplicateKey,
				fmt.Sprintf("duplicate key (first defined on line %d)", first.Line))
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{name: k.Value, key: k, val: v})
	}
	for _, p := range merged {
		if _, ok := seen[p.name]; !ok {
			seen[p.name] = p.key
			own = append(own, p)
		}
	}
	return own
}

// mergePairs returns the entries that a merge key brings in: those of one
// mapping or of a list of mappings, earlier ones first.
func (d *decoder) mergePairs(v *yaml.Node, path string) []pair {
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range v.Content {
			if item = resolve(item); item.Kind != yaml.MappingNode {
				d.typeError(item, path, "a mapping to merge")
				continue
			}
			out = append(out, d.pairs(item, path)...)
		}
		return out
	default:
		d.typeError(v, path, "a mapping or a list of mappings to merge")
		return nil
	}
}

// field is one YAML key of a struct.
type field struct {
	name  string
	root  int   // index of the struct that holds it in decodeFields' roots
	index []int // reflect field index path within that struct
}

// fieldsOf lists the YAML keys of struct type t in declaration order,
// descending into ",inline" structs and skipping "-" and unexported fields.
func fieldsOf(t reflect.Type, root int) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			if sf.Type.Kind() != reflect.Struct {
				panic("config: ,inline is only supported on struct fields: " + t.String() + "." + sf.Name)
			}
			for _, f := range fieldsOf(sf.Type, root) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, field{name: name, root: root, index: []int{i}})
	}
	return out
}

// fieldNames lists the keys of fields.
func fieldNames(fields []field) []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}

// decodeFields decodes the entries of a mapping into the fields of roots.
// unknown returns the message for a key that is not a field.
func (d *decoder) decodeFields(pairs []pair, path string, roots []reflect.Value, fields []field, unknown func(key string) string) {
	byName := make(map[string]field, len(fields))
	for _, f := range fields {
		byName[f.name] = f
	}
	for _, p := range pairs {
		kp := joinPath(path, p.name)
		f, ok := byName[p.name]
		if !ok {
			d.add(p.key.Line, kp, ErrUnknownKey, unknown(p.name))
			continue
		}
		d.lines[kp] = p.key.Line
		d.decode(p.val, roots[f.root].FieldByIndex(f.index), kp)
	}
}

// decode decodes n into v, which must be settable. A null leaves v as it
// is, so defaults set before decoding stay.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	switch v.Type() {
	case durationType:
		d.decodeDuration(n, v, path)
		return
	case secretType:
		d.decodeSecret(n, v, path)
		return
	case monitorType:
		d.decodeMonitor(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if !v.IsNil() {
			p.Elem().Set(v.Elem())
		}
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.typeError(n, path, "a mapping")
			return
		}
		fields := fieldsOf(v.Type(), 0)
		d.decodeFields(d.pairs(n, path), path, []reflect.Value{v}, fields, func(key string) string {
			return unknownKeyMessage(key, fieldNames(fields), "", "")
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.typeError(n, path, "a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			d.lines[ip] = item.Line
			if isNull(resolve(item)) {
				d.add(item.Line, ip, ErrType, "empty list item")
				continue
			}
			d.decode(item, s.Index(i), ip)
		}
		v.Set(s)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			panic("config: only maps with string keys are supported: " + v.Type().String())
		}
		if n.Kind != yaml.MappingNode {
			d.typeError(n, path, "a mapping")
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, p := range d.pairs(n, path) {
			kp := mapKeyPath(path, p.name)
			d.lines[kp] = p.key.Line
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(p.val, e, kp)
			m.SetMapIndex(reflect.ValueOf(p.name).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		b, ok := yamlnode.ParseBool(s)
		if !ok {
			d.add(n.Line, path, ErrType, "expected true or false, got "+quote(s))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, ok := d.scalar(n, path, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, v.Type().Bits())
		if err != nil {
			d.numberError(n, path, s, "an integer", err)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s, ok := d.scalar(n, path, "a non-negative integer")
		if !ok {
			return
		}
		u, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 10, v.Type().Bits())
		if err != nil {
			d.numberError(n, path, s, "a non-negative integer", err)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		s, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			d.numberError(n, path, s, "a number", err)
			return
		}
		v.SetFloat(f)
	default:
		panic("config: unsupported field type " + v.Type().String() + " at " + path)
	}
}

// numberError records a scalar that is not a number of the wanted kind.
func (d *decoder) numberError(n *yaml.Node, path, s, want string, err error) {
	if errors.Is(err, strconv.ErrRange) {
		d.add(n.Line, path, ErrType, fmt.Sprintf("%s is out of range", quote(s)))
		return
	}
	d.add(n.Line, path, ErrType, "expected "+want+", got "+quote(s))
}

// scalar returns the text of scalar node n after ${VAR} expansion. It
// records a problem and returns false if n is not a scalar or references an
// unset variable.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.typeError(n, path, want)
		return "", false
	}
	s, at, err := expandEnv(n.Value, d.lookupEnv)
	if err != nil {
		line := n.Line
		if n.Style&yaml.LiteralStyle != 0 {
			// The text of a literal block starts on the line after "|".
			line += 1 + strings.Count(n.Value[:at], "\n")
		}
		d.add(line, path, ErrEnv, err.Error())
		return "", false
	}
	return s, true
}

// expandEnv replaces ${NAME} in s with the value of the environment
// variable NAME and $$ with $; any other $ stays as it is. A reference to
// an unset variable is an error, as is a malformed reference; at is the
// byte offset of the offending reference.
func expandEnv(s string, lookup func(string) (string, bool)) (out string, at int, err error) {
	return yamlnode.Substitute(s, func(name string) (string, error) {
		val, ok := lookup(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set (referenced as ${%s})", name, name)
		}
		return val, nil
	})
}

// decodeDuration decodes a Duration such as 90s, 15m or 7d.
func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.scalar(n, path, "a duration such as 90s, 15m, 2h or 7d")
	if !ok {
		return
	}
	dur, err := ParseDuration(s)
	if err != nil {
		d.add(n.Line, path, ErrDuration, durationMessage(s, err))
		return
	}
	v.SetInt(int64(dur))
}

// secretKeys are the keys of a secret written as a mapping.
var secretKeys = []string{"value", "file"}

// decodeSecret decodes a Secret: a plain string, {value: V} or
// {file: PATH}. The file's content is read now, without its trailing
// newline; a relative PATH is relative to the configuration file.
// Messages never include the secret.
func (d *decoder) decodeSecret(n *yaml.Node, v reflect.Value, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
		return
	case yaml.MappingNode:
	default:
		d.typeError(n, path, "a string or a mapping {file: PATH}")
		return
	}
	var value, file *pair
	for _, p := range d.pairs(n, path) {
		switch p.name {
		case "value":
			value = &p
		case "file":
			file = &p
		default:
			d.add(p.key.Line, joinPath(path, p.name), ErrUnknownKey,
				unknownKeyMessage(p.name, secretKeys, "a secret", ""))
			return
		}
	}
	switch {
	case value != nil && file != nil:
		d.add(max(value.key.Line, file.key.Line), path, ErrSecret, "set either value or file, not both")
	case value == nil && file == nil:
		d.add(n.Line, path, ErrMissing, "a secret mapping needs value or file")
	case value != nil:
		d.lines[joinPath(path, "value")] = value.key.Line
		if s, ok := d.scalar(resolve(value.val), joinPath(path, "value"), "a string"); ok {
			v.SetString(s)
		}
	default:
		fp := joinPath(path, "file")
		d.lines[fp] = file.key.Line
		name, ok := d.scalar(resolve(file.val), fp, "a file path")
		if !ok {
			return
		}
		if name == "" {
			d.add(file.key.Line, fp, ErrMissing, "empty secret file path")
			return
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(d.dir, name)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			d.errs = append(d.errs, &Error{File: d.file, Line: file.key.Line, Path: fp,
				Err: fmt.Errorf("%w: %w", ErrSecret, err), Msg: "cannot read secret file: " + err.Error()})
			return
		}
		v.SetString(strings.TrimRight(string(data), "\r\n"))
	}
}

// decodeMonitor decodes a Monitor: it reads the type key first, starts
// from that type's defaults, then decodes the common keys and the
// type-specific ones, which sit beside them.
func (d *decoder) decodeMonitor(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeError(n, path, "a mapping")
		return
	}
	var typ string
	var typeKey *yaml.Node
	pairs := d.pairs(n, path)
	for _, p := range pairs {
		if p.name == "type" {
			typeKey = p.key
			if s, ok := d.scalar(resolve(p.val), joinPath(path, "type"), "a monitor type"); ok {
				typ = s
			} else {
				return
			}
		}
	}
	if typeKey == nil || typ == "" {
		d.add(n.Line, joinPath(path, "type"), ErrMissing,
			"monitor type is required (known types: "+strings.Join(MonitorTypes(), ", ")+")")
		return
	}
	m, ok := DefaultMonitor(typ)
	if !ok {
		d.add(typeKey.Line, joinPath(path, "type"), ErrUnknownType,
			fmt.Sprintf("unknown monitor type %s (known types: %s)", quote(typ), strings.Join(MonitorTypes(), ", ")))
		return
	}
	blk := reflect.ValueOf(monitorTypes[typ].block(&m, false)).Elem()
	fields := append(fieldsOf(monitorType, 0), fieldsOf(blk.Type(), 1)...)
	d.decodeFields(pairs, path, []reflect.Value{reflect.ValueOf(&m).Elem(), blk}, fields, func(key string) string {
		return unknownKeyMessage(key, fieldNames(fields), article(typ)+" "+typ+" monitor", otherTypesWithKey(typ, key))
	})
	v.Set(reflect.ValueOf(m))
}

// article returns "an" or "a" for a monitor type name ("an http monitor",
// "a tls monitor").
func article(word string) string {
	// Letters read out one by one ("an http", "an RLS"), or a vowel sound.
	if strings.HasPrefix(word, "http") || (word != "" && strings.ContainsRune("aeio", rune(word[0]))) {
		return "an"
	}
	return "a" // including "a ui", "a url": a leading u sounds like "you"
}

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes, defaults and validates the configuration file at
// path. Relative secret files are read from the file's directory. Problems
// in the file come back as joined *Error values, one line each.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes, defaults and validates a configuration whose text is
// data; filename is used in error messages and its directory for relative
// secret files ("" means the working directory). ${VAR} references are
// resolved from the process environment.
func Parse(data []byte, filename string) (*Config, error) {
	return parse(data, filename, os.LookupEnv)
}

// parse is Parse with an injectable environment.
func parse(data []byte, filename string, lookupEnv func(string) (string, bool)) (*Config, error) {
	dir := "."
	if filename != "" {
		dir = filepath.Dir(filename)
	}
	d := newDecoder(filename, dir, lookupEnv)
	root, ok := d.document(data)
	if !ok {
		return nil, d.err()
	}
	return d.config(root)
}

// config decodes root (nil for an empty document) over the defaults and
// validates the result.
func (d *decoder) config(root *yaml.Node) (*Config, error) {
	cfg := Default()
	if root != nil {
		d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	}
	if err := d.err(); err != nil {
		// Validating half-decoded values would only add noise.
		return nil, err
	}
	ch := &checker{errorList: errorList{file: d.file}, lines: d.lines}
	cfg.validate(ch)
	if err := ch.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// UnmarshalYAML makes yaml.Unmarshal into a Config as strict as Parse:
// defaults, ${VAR} expansion and validation included. Errors carry lines
// but no file name, and relative secret files are read from the working
// directory.
func (c *Config) UnmarshalYAML(value *yaml.Node) error {
	cfg, err := newDecoder("", ".", os.LookupEnv).config(value)
	if err != nil {
		return err
	}
	*c = *cfg
	return nil
}

// MonitorByName returns the monitor called name, and false if there is none.
func (c *Config) MonitorByName(name string) (Monitor, bool) {
	for _, m := range c.Monitors {
		if m.Name == name {
			return m, true
		}
	}
	return Monitor{}, false
}

package playbooks

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/secopsd/secopsd/internal/incident"
)

// defaultFS holds the default playbooks, used when no directory is
// configured.
//
//go:embed *.yml
var defaultFS embed.FS

// maxFileSize bounds a playbook file.
const maxFileSize = 1 << 20

// maxFiles bounds the playbook files of one directory.
const maxFiles = 1000

// Set is a validated collection of playbooks with unique names. It
// implements incident.PlaybookSource; it is never changed after loading, so
// it is safe for concurrent use. Reloading builds a new Set.
type Set struct {
	defs   []*Definition // ordered by name
	byName map[string]*Definition
}

var _ incident.PlaybookSource = (*Set)(nil)

// NewSet collects definitions returned by Parse into a Set; a name used
// twice is an ErrDuplicateName error naming both files.
func NewSet(defs ...*Definition) (*Set, error) {
	s := &Set{byName: make(map[string]*Definition, len(defs))}
	var errs []error
	for _, d := range defs {
		if d == nil || !d.parsed {
			return nil, errors.New("playbooks: NewSet takes definitions returned by Parse")
		}
		if first, dup := s.byName[d.Name]; dup {
			errs = append(errs, &Error{File: d.File, Line: d.Line, Path: "name", Err: ErrDuplicateName,
				Msg: fmt.Sprintf("playbook name %s is also used by %s", quote(d.Name), location(first))})
			continue
		}
		s.byName[d.Name] = d
		s.defs = append(s.defs, d)
	}
	if err := joinSorted(errs); err != nil {
		return nil, err
	}
	slices.SortFunc(s.defs, func(a, b *Definition) int { return cmp.Compare(a.Name, b.Name) })
	return s, nil
}

// location names where a definition is, for messages.
func location(d *Definition) string {
	if d.File == "" {
		return "another playbook"
	}
	return fmt.Sprintf("%s:%d", d.File, d.Line)
}

// Defaults returns the playbooks built into the binary: auth.yml, ui.yml,
// ratelimit.yml and fallback.yml of this directory.
func Defaults() (*Set, error) {
	return LoadFS(defaultFS, "")
}

// Load returns the playbooks of dir, every *.yml and *.yaml file in it (not
// in its subdirectories). A configured directory replaces the defaults, so
// copy the default files there to keep them. An empty dir means the
// defaults. Problems of every file are reported at once.
func Load(dir string) (*Set, error) {
	if dir == "" {
		return Defaults()
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("load playbooks: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("load playbooks: %s is not a directory", dir)
	}
	return LoadFS(os.DirFS(dir), dir)
}

// LoadFS returns the playbooks at the root of fsys; messages name files as
// prefix/NAME. A directory without playbook files is an ErrNoPlaybooks
// error, so that a wrong path does not silently disable remediation.
func LoadFS(fsys fs.FS, prefix string) (*Set, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("load playbooks: %w", err)
	}
	var names []string
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if (ext == ".yml" || ext == ".yaml") && !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	display := func(name string) string {
		if prefix == "" {
			return name
		}
		return filepath.Join(prefix, name)
	}
	if len(names) == 0 {
		where := prefix
		if where == "" {
			where = "the playbook directory"
		}
		return nil, &Error{File: prefix, Err: ErrNoPlaybooks, Msg: "no playbook files (*.yml, *.yaml) in " + where}
	}
	if len(names) > maxFiles {
		return nil, &Error{File: prefix, Err: ErrInvalid, Msg: fmt.Sprintf("more than %d playbook files", maxFiles)}
	}
	var defs []*Definition
	var errs []error
	for _, name := range names {
		data, err := readFile(fsys, name)
		if err != nil {
			errs = append(errs, &Error{File: display(name), Err: fmt.Errorf("%w: %w", ErrInvalid, err), Msg: err.Error()})
			continue
		}
		def, err := Parse(data, display(name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		defs = append(defs, def)
	}
	if len(errs) > 0 {
		// Report every file's problems; duplicate names only make sense
		// once each file is valid.
		return nil, errors.Join(errs...)
	}
	return NewSet(defs...)
}

// readFile reads a playbook file, refusing one larger than maxFileSize.
func readFile(fsys fs.FS, name string) ([]byte, error) {
	// A FIFO or a device would block or never end.
	if fi, err := fs.Stat(fsys, name); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", maxFileSize)
	}
	return data, nil
}

// Match returns the automatic playbooks that apply to inc, most specific
// first: a playbook that restricts more of category, monitor, tier and
// severity comes before one that restricts fewer; among those that
// restrict as many, the one listing fewer values (the narrower) comes
// first; remaining ties go by name.
func (s *Set) Match(inc incident.Incident) []incident.Playbook {
	var hits []*Definition
	for _, d := range s.defs {
		if d.Auto && d.Match.Matches(inc) {
			hits = append(hits, d)
		}
	}
	slices.SortStableFunc(hits, func(a, b *Definition) int {
		return cmp.Or(cmp.Compare(b.Match.specificity(), a.Match.specificity()),
			cmp.Compare(a.Match.breadth(), b.Match.breadth()), cmp.Compare(a.Name, b.Name))
	})
	out := make([]incident.Playbook, len(hits))
	for i, d := range hits {
		out[i] = d.Playbook()
	}
	return out
}

// Matches reports whether inc is an incident m selects.
func (m Match) Matches(inc incident.Incident) bool {
	if m.RequireMonitor && inc.Monitor == "" {
		return false
	}
	return (len(m.Categories) == 0 || slices.Contains(m.Categories, inc.Category)) &&
		(len(m.Monitors) == 0 || slices.ContainsFunc(m.Monitors, func(p string) bool { return monitorMatches(p, inc.Monitor) })) &&
		(len(m.Tiers) == 0 || slices.Contains(m.Tiers, inc.Tier)) &&
		(len(m.Severities) == 0 || slices.Contains(m.Severities, inc.Severity))
}

// monitorMatches reports whether a monitor name matches pattern, a name or
// a glob such as provider-* (path.Match syntax). No pattern matches an
// incident without a monitor.
func monitorMatches(pattern, monitor string) bool {
	if monitor == "" {
		return false
	}
	ok, err := path.Match(pattern, monitor)
	return ok && err == nil
}

// specificity counts the restricting lists of m.
func (m Match) specificity() int {
	n := 0
	for _, l := range []int{len(m.Categories), len(m.Monitors), len(m.Tiers), len(m.Severities)} {
		if l > 0 {
			n++
		}
	}
	return n
}

// breadth counts the values m's lists allow.
func (m Match) breadth() int {
	return len(m.Categories) + len(m.Monitors) + len(m.Tiers) + len(m.Severities)
}

// Playbook returns the named playbook, automatic or not.
func (s *Set) Playbook(name string) (incident.Playbook, bool) {
	d, ok := s.byName[name]
	if !ok {
		return incident.Playbook{}, false
	}
	return d.Playbook(), true
}

// Definition returns the named playbook as written; callers must not
// modify it.
func (s *Set) Definition(name string) (*Definition, bool) {
	d, ok := s.byName[name]
	return d, ok
}

// Names lists the playbooks' names in order.
func (s *Set) Names() []string {
	names := make([]string, len(s.defs))
	for i, d := range s.defs {
		names[i] = d.Name
	}
	return names
}

// Unset names an environment variable a step needs that is not set.
type Unset struct {
	Playbook string
	Step     string
	// Key is the step's key that references it (url, headers.NAME,
	// sign.secret_env).
	Key string
	// Var is the variable's name.
	Var string
}

// String describes u on one line.
func (u Unset) String() string {
	return fmt.Sprintf("playbook %s, step %s: %s needs environment variable %s, which is not set", u.Playbook, u.Step, u.Key, u.Var)
}

// MissingEnv lists the environment variables that steps reference but
// lookup does not know, so that the daemon can warn at start-up: such a
// step fails when it runs, with a message naming the variable. It never
// returns a value.
func (s *Set) MissingEnv(lookup func(string) (string, bool)) []Unset {
	var out []Unset
	check := func(d *Definition, st StepSpec, key, text string) {
		refs, _ := envRefs(text)
		for _, name := range refs {
			if _, ok := lookup(name); !ok {
				out = append(out, Unset{Playbook: d.Name, Step: st.Name, Key: key, Var: name})
			}
		}
	}
	for _, d := range s.defs {
		for _, st := range d.Steps {
			check(d, st, "url", st.URL)
			for _, name := range sortedKeys(st.Headers) {
				check(d, st, "headers."+name, st.Headers[name])
			}
			if st.Sign != nil {
				if _, ok := lookup(st.Sign.SecretEnv); !ok {
					out = append(out, Unset{Playbook: d.Name, Step: st.Name, Key: "sign.secret_env", Var: st.Sign.SecretEnv})
				}
			}
		}
	}
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

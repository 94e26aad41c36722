package playbooks

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secopsd/secopsd/internal/incident"
)

// sentinels lists every error class a problem may have.
var sentinels = []error{ErrSyntax, ErrDuplicateKey, ErrUnknownKey, ErrType, ErrMissing, ErrDuration, ErrStepType,
	ErrDuplicateName, ErrTemplate, ErrEnv, ErrURL, ErrCommand, ErrUnsafe, ErrInvalid, ErrNoPlaybooks}

// FuzzLoad feeds arbitrary files to the loader: it must never panic, every
// problem must be a located *Error of a known class whose line names the
// file, and an accepted playbook must be usable.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	defaults, _ := filepath.Glob("*.yml")
	for _, p := range append(files, defaults...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("name: a\nmatch: &m {tiers: [MINOR]}\nsteps: [&s {name: x, type: escalate}]\nauto: *m\n"))
	f.Add([]byte("name: a\nmatch: {tiers: [MINOR]}\nsteps: [{name: x, type: http, url: 'http://${A}', headers: {K: '$${B}'}, body: '{{json .}}'}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := Parse(data, "fuzz.yml")
		if err != nil {
			if def != nil {
				t.Fatal("a definition came back with an error")
			}
			var list []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				list = j.Unwrap()
			} else {
				list = []error{err}
			}
			for _, e := range list {
				var pe *Error
				if !errors.As(e, &pe) {
					t.Fatalf("problem without location: %v", e)
				}
				known := false
				for _, s := range sentinels {
					known = known || errors.Is(pe, s)
				}
				if !known {
					t.Fatalf("problem of no known class: %v", e)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yml") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		set, err := NewSet(def)
		if err != nil {
			t.Fatal(err)
		}
		pb, ok := set.Playbook(def.Name)
		if !ok || len(pb.Steps) == 0 || len(pb.Steps) > MaxSteps {
			t.Fatalf("accepted playbook unusable: %+v", pb)
		}
		for _, s := range def.Steps {
			if !s.Type.Valid() || s.Name == "" || s.Timeout <= 0 {
				t.Fatalf("accepted an invalid step: %+v", s)
			}
		}
		set.Match(incident.Incident{Category: "availability", Monitor: "m", Tier: incident.TierMinor})
		set.MissingEnv(func(string) (string, bool) { return "", false })
	})
}

package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/secopsd/secopsd"

// rule says which of the module's packages a package may depend on,
// directly or transitively.
type rule struct {
	pkg       string
	allowOnly []string // module packages allowed (nil: any not in deny)
	deny      []string // module package prefixes forbidden
}

var rules = []rule{
	{pkg: "internal/event", allowOnly: []string{}},
	{pkg: "internal/secretscan", allowOnly: []string{}},
	{pkg: "internal/yamlnode", allowOnly: []string{}},
	{pkg: "internal/incident", allowOnly: []string{"internal/event"}},
	{pkg: "internal/auth", allowOnly: []string{"internal/event"}},
	{pkg: "internal/config", allowOnly: []string{"internal/event", "internal/yamlnode"}},
	{pkg: "monitors", deny: []string{"internal/incident", "internal/siem", "internal/store", "internal/app", "internal/api", "internal/notify", "cmd/", "playbooks"}},
	{pkg: "policies", allowOnly: []string{}},
	{pkg: "playbooks", allowOnly: []string{"internal/incident", "internal/event", "internal/secretscan", "internal/yamlnode"}},
	{pkg: "internal/siem", deny: []string{"internal/store", "internal/app", "internal/api", "monitors", "cmd/"}},
	{pkg: "internal/store", deny: []string{"internal/siem", "internal/app", "internal/api", "monitors", "internal/config", "cmd/"}},
	{pkg: "internal/api", deny: []string{"internal/store", "internal/app", "internal/siem", "monitors", "cmd/"}},
	{pkg: "internal/notify", deny: []string{"internal/store", "internal/app", "internal/api", "internal/siem", "monitors", "cmd/"}},
	{pkg: "internal/forward", deny: []string{"internal/siem", "internal/app", "internal/api", "internal/config", "monitors", "playbooks", "cmd/"}},
	{pkg: "internal/retention", deny: []string{"internal/app", "internal/api", "monitors", "playbooks", "cmd/"}},
	{pkg: "internal/testpolicy", allowOnly: []string{"policies"}},
	{pkg: "internal/app", deny: []string{"cmd/"}},
}

// moduleDeps lists, for every package of the module, the module packages it
// depends on (transitively), relative to the module path.
func moduleDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		var own []string
		for _, d := range fields[1:] {
			if d == module || strings.HasPrefix(d, module+"/") {
				own = append(own, strings.TrimPrefix(strings.TrimPrefix(d, module), "/"))
			}
		}
		deps[pkg] = own
	}
	return deps
}

func within(pkg, prefix string) bool {
	return pkg == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(pkg, strings.TrimSuffix(prefix, "/")+"/")
}

func TestDependencyDirection(t *testing.T) {
	deps := moduleDeps(t)
	if len(deps) < 5 {
		t.Fatalf("go list found only %d packages; the test is not looking at the module", len(deps))
	}
	for pkg, ds := range deps {
		for _, r := range rules {
			if !within(pkg, r.pkg) {
				continue
			}
			for _, d := range ds {
				if within(d, r.pkg) {
					continue
				}
				if r.allowOnly != nil {
					ok := false
					for _, a := range r.allowOnly {
						ok = ok || within(d, a)
					}
					if !ok {
						t.Errorf("%s depends on %s; it may depend only on %v", pkg, d, r.allowOnly)
					}
				}
				for _, x := range r.deny {
					if within(d, x) {
						t.Errorf("%s depends on %s, which it must not (see ../shared/STYLE.md package map)", pkg, d)
					}
				}
			}
		}
	}
	// Nothing but the command may import the daemon's assembly.
	for pkg, ds := range deps {
		if within(pkg, "cmd") || within(pkg, "internal/app") {
			continue
		}
		for _, d := range ds {
			if within(d, "internal/app") {
				t.Errorf("%s depends on internal/app; only cmd/secopsd may", pkg)
			}
		}
	}
}

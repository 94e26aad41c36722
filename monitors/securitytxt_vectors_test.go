package monitors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Replays of peer security.txt vectors (see ../../shared/vectors/security-txt/README.md).

// stxtConformanceNow is "now" for the conformance suite: the day its
// real-world snapshots were materialised, which their expectations
// reflect.
func stxtConformanceNow() time.Time { return time.Date(2026, 8, 19, 0, 0, 0, 0, time.UTC) }

// stxtConformanceExceptions are the conformance cases where secopsd
// deliberately disagrees, with the reason.
func stxtConformanceExceptions() map[string]string {
	return map[string]string{}
}

// stxtEikendevExceptions are the eikendev must-parse files secopsd
// deliberately reports invalid, with the reason.
func stxtEikendevExceptions() map[string]string {
	return map[string]string{
		"valid_unsigned/www_gov_uk.stxt": "Expires: 2023-06-07 13:08:19+00:00 separates date and time with a space; " +
			"RFC 9116 takes date-time from RFC 3339 section 5.6, whose grammar requires \"T\" " +
			"(the conformance suite's case \"invalid impossible and incomplete expiry values\" rejects it too)",
	}
}

// stxtCode maps secopsd's issue codes to the suite's vocabulary.
func stxtCode(code string) string {
	if code == stxtInsecureContact {
		return stxtInvalidContact // the suite does not tell http: apart
	}
	return code
}

type stxtVectorIssue struct {
	Code string `json:"code"`
	Line *int   `json:"line"`
}

type stxtVectorField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Line  int    `json:"line"`
}

// stxtVectorExpect holds the keys a case may expect; a nil field is a key
// the case leaves out, which is not compared.
type stxtVectorExpect struct {
	Valid              *bool              `json:"valid"`
	Signed             *bool              `json:"signed"`
	Fields             *[]stxtVectorField `json:"fields"`
	Expires            *json.RawMessage   `json:"expires"`
	Errors             *[]stxtVectorIssue `json:"errors"`
	Recommendations    *[]stxtVectorIssue `json:"recommendations"`
	Notifications      *[]stxtVectorIssue `json:"notifications"`
	Contact            *[]string          `json:"contact"`
	Acknowledgments    *[]string          `json:"acknowledgments"`
	Canonical          *[]string          `json:"canonical"`
	CSAF               *[]string          `json:"csaf"`
	Encryption         *[]string          `json:"encryption"`
	Hiring             *[]string          `json:"hiring"`
	Policy             *[]string          `json:"policy"`
	PreferredLanguages *[]string          `json:"preferredLanguages"`
}

type stxtVectorCase struct {
	Name         string                      `json:"name"`
	Input        json.RawMessage             `json:"input"`
	InputFile    string                      `json:"inputFile"`
	ExpiresAt    string                      `json:"expiresAt"`
	Expected     stxtVectorExpect            `json:"expected"`
	ExpiryPhases map[string]stxtVectorExpect `json:"expiryPhases"`
}

// stxtMaterialise replaces the suite's time symbols relative to now.
func stxtMaterialise(s string, now time.Time) string {
	const layout = "2006-01-02T15:04:05Z"
	beyond := now.AddDate(2, 0, 0).Format(layout)
	return strings.NewReplacer(
		"{{past}}", now.AddDate(0, 0, -1).Format(layout),
		"{{within_one_year}}", now.AddDate(0, 0, 30).Format(layout),
		"{{beyond_one_year_lower_z}}", strings.TrimSuffix(beyond, "Z")+"z",
		"{{beyond_one_year}}", beyond,
	).Replace(s)
}

// input builds the case's bytes.
func (c stxtVectorCase) input(t *testing.T, dir string, now time.Time) []byte {
	t.Helper()
	if c.InputFile != "" {
		b, err := os.ReadFile(filepath.Join(dir, c.InputFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var s string
	if err := json.Unmarshal(c.Input, &s); err == nil {
		return []byte(stxtMaterialise(s, now))
	}
	var parts struct {
		Parts []struct {
			Text   string `json:"text"`
			Repeat string `json:"repeat"`
			Count  int    `json:"count"`
		} `json:"parts"`
	}
	if err := json.Unmarshal(c.Input, &parts); err != nil {
		t.Fatalf("%s: input: %v", c.Name, err)
	}
	var b strings.Builder
	for _, p := range parts.Parts {
		b.WriteString(stxtMaterialise(p.Text, now))
		b.WriteString(strings.Repeat(p.Repeat, p.Count))
	}
	return []byte(b.String())
}

// stxtIssueKeys renders issues as sorted "code@line" keys.
func stxtIssueKeys(issues []stxtIssue) []string {
	keys := []string{}
	for _, i := range issues {
		line := "null"
		if i.Line > 0 {
			line = fmt.Sprint(i.Line)
		}
		keys = append(keys, stxtCode(i.Code)+"@"+line)
	}
	slices.Sort(keys)
	return keys
}

func stxtVectorKeys(issues []stxtVectorIssue) []string {
	keys := []string{}
	for _, i := range issues {
		line := "null"
		if i.Line != nil {
			line = fmt.Sprint(*i.Line)
		}
		keys = append(keys, i.Code+"@"+line)
	}
	slices.Sort(keys)
	return keys
}

// stxtCompare lists the differences between r and the expectation e.
func stxtCompare(r stxtReport, e stxtVectorExpect, now time.Time) []string {
	var diffs []string
	diff := func(key string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", key, got, want))
		}
	}
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	if e.Valid != nil {
		diff("valid", r.Valid(), *e.Valid)
	}
	if e.Signed != nil {
		diff("signed", r.File.Signed, *e.Signed)
	}
	if e.Errors != nil {
		diff("errors", stxtIssueKeys(r.Errors), stxtVectorKeys(*e.Errors))
	}
	if e.Recommendations != nil {
		diff("recommendations", stxtIssueKeys(r.Recommendations), stxtVectorKeys(*e.Recommendations))
	}
	if e.Notifications != nil {
		diff("notifications", stxtIssueKeys(r.Notices), stxtVectorKeys(*e.Notifications))
	}
	if e.Fields != nil {
		var got, want []string
		for _, f := range r.File.Fields {
			got = append(got, fmt.Sprintf("%s=%q@%d", f.Name, f.Value, f.Line))
		}
		for _, f := range *e.Fields {
			want = append(want, fmt.Sprintf("%s=%q@%d", f.Name, stxtMaterialise(f.Value, now), f.Line))
		}
		diff("fields", got, want)
	}
	if e.Expires != nil {
		var want *string
		_ = json.Unmarshal(*e.Expires, &want)
		w := ""
		if want != nil {
			w = stxtMaterialise(*want, now)
		}
		diff("expires", r.Expires, w)
	}
	for _, l := range []struct {
		key       string
		got, want *[]string
	}{
		{"contact", &r.Contact, e.Contact},
		{"acknowledgments", &r.Acknowledgments, e.Acknowledgments},
		{"canonical", &r.Canonical, e.Canonical},
		{"csaf", &r.CSAF, e.CSAF},
		{"encryption", &r.Encryption, e.Encryption},
		{"hiring", &r.Hiring, e.Hiring},
		{"policy", &r.Policy, e.Policy},
		{"preferredLanguages", &r.PreferredLanguages, e.PreferredLanguages},
	} {
		if l.want != nil {
			diff(l.key, orEmpty(*l.got), orEmpty(*l.want))
		}
	}
	return diffs
}

// TestSecurityTxtConformanceVectors replays the parse cases of
// ivan-podgurskiy/security-txt-parser's language-neutral suite, including
// each case's expiry phases, against checkSecurityTxt with a one-year
// max_expiry. The serialize cases do not apply (secopsd only reads).
func TestSecurityTxtConformanceVectors(t *testing.T) {
	dir := filepath.Dir(tlsVectorPath(t, "security-txt/ivan-podgurskiy-conformance/conformance.json"))
	var suite struct {
		Parse []stxtVectorCase `json:"parse"`
	}
	tlsReadJSON(t, filepath.Join(dir, "conformance.json"), &suite)
	exceptions := stxtConformanceExceptions()
	total, agree := 0, 0
	var differ []string
	run := func(name string, c stxtVectorCase, e stxtVectorExpect, now time.Time) {
		total++
		r := checkSecurityTxt(c.input(t, dir, now), now, 365*24*time.Hour)
		diffs := stxtCompare(r, e, now)
		_, excepted := exceptions[name]
		switch {
		case len(diffs) == 0 && excepted:
			t.Errorf("%s: listed as an exception but agrees", name)
		case len(diffs) == 0:
			agree++
		case excepted:
			differ = append(differ, name)
		default:
			t.Errorf("%s:\n  %s", name, strings.Join(diffs, "\n  "))
		}
	}
	for _, c := range suite.Parse {
		run(c.Name, c, c.Expected, stxtConformanceNow())
		if c.ExpiresAt == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, c.ExpiresAt)
		if err != nil {
			t.Fatalf("%s: expiresAt: %v", c.Name, err)
		}
		for phase, now := range map[string]time.Time{
			"beyondOneYear": at.AddDate(-2, 0, 0),
			"withinOneYear": at.AddDate(0, 0, -30),
			"afterExpiry":   at.AddDate(0, 0, 1),
		} {
			if e, ok := c.ExpiryPhases[phase]; ok {
				run(c.Name+" ["+phase+"]", c, e, now)
			}
		}
	}
	if len(suite.Parse) != 49 {
		t.Errorf("%d parse cases, want 49", len(suite.Parse))
	}
	t.Logf("security.txt conformance: %d of %d cases (49 parse cases and their expiry phases) agree; %d differ deliberately: %v",
		agree, total, len(differ), differ)
}

// TestSecurityTxtEikendevCorpus checks that every file of eikendev/sectxt's
// must-parse corpus parses as valid at the corpus's reference time.
func TestSecurityTxtEikendevCorpus(t *testing.T) {
	root := tlsVectorPath(t, "security-txt/eikendev-sectxt")
	now := time.Date(2023, 1, 1, 8, 19, 3, 0, time.UTC)
	exceptions := stxtEikendevExceptions()
	total, agree := 0, 0
	var differ []string
	for _, sub := range []string{"gen_unsigned", "valid_unsigned", "valid_signed"} {
		files, err := filepath.Glob(filepath.Join(root, sub, "*.stxt"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", sub, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := sub + "/" + filepath.Base(f)
			total++
			r := checkSecurityTxt(b, now, 0)
			_, excepted := exceptions[name]
			switch {
			case r.Valid() && excepted:
				t.Errorf("%s: listed as an exception but valid", name)
			case r.Valid():
				agree++
				if sub == "valid_signed" && !r.File.Signed {
					t.Errorf("%s: not recognised as signed", name)
				}
			case excepted:
				differ = append(differ, name)
			default:
				t.Errorf("%s: %v", name, r.Errors)
			}
		}
	}
	if total != 108 {
		t.Errorf("%d files, want 108", total)
	}
	t.Logf("eikendev/sectxt corpus: %d of %d must-parse files valid; %d differ deliberately: %v", agree, total, len(differ), differ)
}

package monitors

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// headersVectorsDir is where the peer conformance vectors live, relative to this
// package: /work/shared/vectors beside the repository.
const headersVectorsDir = "../../shared/vectors"

// headersVectorFile returns the path of a vector file, skipping the test when the
// vectors are not there (failing instead when CI is set).
func headersVectorFile(t *testing.T, parts ...string) string {
	t.Helper()
	path := filepath.Join(append([]string{headersVectorsDir}, parts...)...)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("vectors missing in CI: %v", err)
		}
		t.Skipf("vectors not available: %v", err)
	}
	return path
}

// sfCase is one httpwg/structured-field-tests case.
type sfCase struct {
	Name       string          `json:"name"`
	Raw        []string        `json:"raw"`
	HeaderType string          `json:"header_type"`
	Expected   json.RawMessage `json:"expected"`
	MustFail   bool            `json:"must_fail"`
	CanFail    bool            `json:"can_fail"`
}

// sfJSON converts a parsed value to the JSON form of the test suite.
func sfJSON(v any) any {
	switch x := v.(type) {
	case []sfMember: // list or dictionary
		out := []any{}
		for _, m := range x {
			if m.Key == "" {
				out = append(out, sfJSON(m.Value))
			} else {
				out = append(out, []any{m.Key, sfJSON(m.Value)})
			}
		}
		return out
	case sfItem:
		return []any{sfBareJSON(x.Value), sfParamsJSON(x.Params)}
	case sfInnerList:
		items := []any{}
		for _, it := range x.Items {
			items = append(items, sfJSON(it))
		}
		return []any{items, sfParamsJSON(x.Params)}
	}
	panic("unexpected structured field value")
}

func sfParamsJSON(ps []sfParam) any {
	out := []any{}
	for _, p := range ps {
		out = append(out, []any{p.Key, sfBareJSON(p.Value)})
	}
	return out
}

func sfBareJSON(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64, string, bool:
		return x
	case sfToken:
		return map[string]any{"__type": "token", "value": string(x)}
	case []byte:
		return map[string]any{"__type": "binary", "value": base32.StdEncoding.EncodeToString(x)}
	case sfDate:
		return map[string]any{"__type": "date", "value": float64(x)}
	case sfDisplayString:
		return map[string]any{"__type": "displaystring", "value": string(x)}
	}
	panic("unexpected bare item")
}

// sfEqual compares JSON values, numbers to three decimal places.
func sfEqual(a, b any) bool {
	fa, aok := a.(float64)
	fb, bok := b.(float64)
	if aok && bok {
		return math.Abs(fa-fb) < 1e-9*math.Max(1, math.Abs(fa))
	}
	return reflect.DeepEqual(a, b)
}

func sfDeepEqual(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sfDeepEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !sfDeepEqual(x[k], y[k]) {
				return false
			}
		}
		return true
	}
	return sfEqual(a, b)
}

func parseSFAs(typ string, raw []string) (any, error) {
	switch typ {
	case "dictionary":
		return parseSFDictionary(raw)
	case "list":
		return parseSFList(raw)
	default:
		return parseSFItem(raw)
	}
}

// TestStructuredFieldVectors replays httpwg/structured-field-tests (every
// parse file; the serialisation-tests directory is about serialising,
// which secopsd does not do).
func TestStructuredFieldVectors(t *testing.T) {
	dir := headersVectorFile(t, "structured-fields")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files: %v", err)
	}
	total, agree, tolerated := 0, 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []sfCase
		if err := json.Unmarshal(data, &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		fileAgree := 0
		for _, c := range cases {
			total++
			got, err := parseSFAs(c.HeaderType, c.Raw)
			ok := false
			switch {
			case c.MustFail:
				ok = err != nil
			case err != nil:
				ok = c.CanFail
				if ok {
					tolerated++ // the suite allows either outcome
				}
			default:
				var want any
				dec := json.NewDecoder(bytes.NewReader(c.Expected))
				if err := dec.Decode(&want); err != nil {
					t.Fatalf("%s %q: %v", f, c.Name, err)
				}
				ok = sfDeepEqual(sfJSON(got), want)
				if !ok && c.CanFail {
					ok = true
				}
			}
			if ok {
				fileAgree++
				continue
			}
			gotJSON, _ := json.Marshal(func() any {
				if err != nil {
					return err.Error()
				}
				return sfJSON(got)
			}())
			t.Errorf("%s: %q (%s %q): got %s, want must_fail=%v %s", filepath.Base(f), c.Name, c.HeaderType, c.Raw, gotJSON, c.MustFail, c.Expected)
		}
		agree += fileAgree
		t.Logf("%s: %d/%d agree", filepath.Base(f), fileAgree, len(cases))
	}
	t.Logf("structured-fields: %d/%d cases agree (%d of them can_fail cases that we reject)", agree, total, tolerated)
}

func TestParseSFDictionaryPermissionsPolicy(t *testing.T) {
	d, err := parseSFDictionary([]string{`camera=(), geolocation=(self "https://maps.example.com")`, "fullscreen=*"})
	if err != nil {
		t.Fatal(err)
	}
	got := sfJSON(d)
	want := []any{
		[]any{"camera", []any{[]any{}, []any{}}},
		[]any{"geolocation", []any{[]any{
			[]any{map[string]any{"__type": "token", "value": "self"}, []any{}},
			[]any{"https://maps.example.com", []any{}},
		}, []any{}}},
		[]any{"fullscreen", []any{map[string]any{"__type": "token", "value": "*"}, []any{}}},
	}
	if !sfDeepEqual(got, want) {
		t.Errorf("got %#v", got)
	}
	for _, bad := range []string{"camera=(self", "Camera=()", "camera=(), ", "camera=(self,src)"} {
		if _, err := parseSFDictionary([]string{bad}); err == nil || !strings.Contains(err.Error(), "invalid structured field") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

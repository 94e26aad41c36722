package config

import "fmt"

// Defaults and limits of the ui monitor type.
const (
	// DefaultUIMaxAssets is how many same-origin assets a ui monitor
	// fetches at most.
	DefaultUIMaxAssets = 50
	// MaxUIMaxAssets bounds UIMonitor.MaxAssets.
	MaxUIMaxAssets = 500
	// MaxUIMarkers bounds UIMonitor.ExpectMarkers.
	MaxUIMarkers = 100
)

// UIMonitor is the type-specific configuration of a ui monitor, which
// checks that a web page is served as HTML with the expected content and
// that its scripts and stylesheets load.
type UIMonitor struct {
	// URL is the absolute http or https URL of the page.
	URL string `yaml:"url"`
	// ExpectMarkers are strings that must appear in the page's HTML.
	ExpectMarkers []string `yaml:"expect_markers"`
	// CheckAssets fetches the page's same-origin scripts and stylesheets.
	CheckAssets bool `yaml:"check_assets"`
	// MaxAssets bounds how many assets one run fetches.
	MaxAssets int `yaml:"max_assets"`
	// CheckSRI flags cross-origin scripts without an integrity attribute.
	CheckSRI bool `yaml:"check_sri"`
}

// defaultUIMonitor returns the defaults of a ui monitor's block: check up
// to DefaultUIMaxAssets assets, no marker, no SRI check.
func defaultUIMonitor() *UIMonitor {
	return &UIMonitor{CheckAssets: true, MaxAssets: DefaultUIMaxAssets}
}

// validate checks a ui monitor's block; path is the monitor's path.
func (b *UIMonitor) validate(c *checker, path string) {
	up := joinPath(path, "url")
	if b.URL == "" {
		c.errorf(up, ErrMissing, "url is required for a ui monitor")
	} else if msg := checkHTTPURL(b.URL); msg != "" {
		c.errorf(up, ErrInvalid, "%s", msg)
	}
	mp := joinPath(path, "expect_markers")
	if len(b.ExpectMarkers) > MaxUIMarkers {
		c.errorf(mp, ErrInvalid, "at most %d markers, got %d", MaxUIMarkers, len(b.ExpectMarkers))
	}
	for i, mk := range b.ExpectMarkers {
		if mk == "" {
			c.errorf(fmt.Sprintf("%s[%d]", mp, i), ErrInvalid, "empty marker (it would match any page)")
		}
	}
	if n := b.MaxAssets; n < 1 || n > MaxUIMaxAssets {
		c.errorf(joinPath(path, "max_assets"), ErrInvalid, "max_assets must be between 1 and %d, got %d (set check_assets: false to fetch none)", MaxUIMaxAssets, n)
	}
}

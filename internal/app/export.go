package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/api/ui"
	"github.com/secopsd/secopsd/internal/incident"
)

var (
	_ api.Exporter = TimelineExporter{}
	_ ui.Exporter  = TimelineExporter{}
)

// ExportSource is what a timeline export reads: incidents and their
// timelines (a store.Store is one).
type ExportSource interface {
	ListIncidents(ctx context.Context, f incident.Filter) ([]incident.Incident, error)
	GetIncident(ctx context.Context, id int64) (incident.Incident, error)
	Timeline(ctx context.Context, id int64) ([]incident.TimelineEntry, error)
}

// TimelineExporter writes timeline exports (incident.WriteJSON /
// incident.WriteCSV) from a store, streaming one incident at a time. It
// serves the API's export routes, the UI's download link and
// `secopsd timeline export`.
//
// Everything that can fail before the first byte (an unknown format or
// incident, a period with too many incidents, a store error while listing)
// fails before anything is written, so that an HTTP handler can still
// answer with an error status.
type TimelineExporter struct {
	// Source is the store to read from; required.
	Source ExportSource
	// Now stamps the export's generated_at; nil means time.Now.
	Now func() time.Time
	// Max bounds the incidents of a period export; 0 means
	// incident.MaxExportIncidents.
	Max int
}

func (x TimelineExporter) now() time.Time {
	if x.Now != nil {
		return x.Now()
	}
	return time.Now()
}

// ExportIncident writes one incident with its whole timeline in format
// ("json" or "csv") to w. An unknown incident is an error wrapping
// incident.ErrNotFound, and nothing is written.
func (x TimelineExporter) ExportIncident(ctx context.Context, id int64, format string, w io.Writer) error {
	f, err := incident.ParseExportFormat(format)
	if err != nil {
		return err
	}
	inc, err := x.Source.GetIncident(ctx, id)
	if err != nil {
		return fmt.Errorf("export incident %d: %w", id, err)
	}
	xi, err := x.read(ctx, inc)
	if err != nil {
		return err
	}
	ew, err := incident.NewExportWriter(w, f, incident.Export{GeneratedAt: x.now()})
	if err != nil {
		return err
	}
	if err := ew.Add(xi); err != nil {
		return err
	}
	return ew.Close()
}

// ExportPeriod writes every incident opened in [since, until) (a zero bound
// is open), oldest first, each with its whole timeline. More than Max
// incidents is an error wrapping incident.ErrExportTooLarge, and nothing is
// written. An error after the first byte leaves the document incomplete, so
// that it does not verify.
func (x TimelineExporter) ExportPeriod(ctx context.Context, since, until time.Time, format string, w io.Writer) error {
	f, err := incident.ParseExportFormat(format)
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return fmt.Errorf("export: until (%s) is not after since (%s)", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	incs, err := x.list(ctx, since, until)
	if err != nil {
		return err
	}
	ew, err := incident.NewExportWriter(w, f, incident.Export{GeneratedAt: x.now(), Since: since, Until: until})
	if err != nil {
		return err
	}
	for _, inc := range incs {
		xi, err := x.read(ctx, inc)
		if errors.Is(err, incident.ErrNotFound) {
			continue // purged since it was listed
		}
		if err != nil {
			return err
		}
		if err := ew.Add(xi); err != nil {
			return fmt.Errorf("write export: %w", err)
		}
	}
	if err := ew.Close(); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	return nil
}

// list returns the incidents opened in the period, oldest first.
func (x TimelineExporter) list(ctx context.Context, since, until time.Time) ([]incident.Incident, error) {
	limit := x.Max
	if limit <= 0 {
		limit = incident.MaxExportIncidents
	}
	var out []incident.Incident
	var before int64
	for {
		page, err := x.Source.ListIncidents(ctx, incident.Filter{Since: since, Until: until, Limit: 1000, BeforeID: before})
		if err != nil {
			return nil, fmt.Errorf("export: list incidents: %w", err)
		}
		if len(page) == 0 {
			break
		}
		out = append(out, page...)
		if len(out) > limit {
			return nil, fmt.Errorf("more than %d incidents were opened in the period: %w", limit, incident.ErrExportTooLarge)
		}
		before = page[len(page)-1].ID
	}
	slices.Reverse(out)
	return out, nil
}

// read returns inc with its timeline. When the two disagree (an entry was
// appended between reading the incident and its timeline) it reads both
// again once, as incident.VerifyAll does; what it then reads is exported as
// it is, so that a tampered store gives an export that does not verify.
func (x TimelineExporter) read(ctx context.Context, inc incident.Incident) (incident.ExportIncident, error) {
	entries, err := x.Source.Timeline(ctx, inc.ID)
	if err != nil {
		return incident.ExportIncident{}, fmt.Errorf("export incident %d: %w", inc.ID, err)
	}
	if incident.VerifyChain(inc, entries) != nil {
		inc2, err := x.Source.GetIncident(ctx, inc.ID)
		if err != nil {
			return incident.ExportIncident{}, fmt.Errorf("export incident %d: %w", inc.ID, err)
		}
		entries2, err := x.Source.Timeline(ctx, inc.ID)
		if err != nil {
			return incident.ExportIncident{}, fmt.Errorf("export incident %d: %w", inc.ID, err)
		}
		inc, entries = inc2, entries2
	}
	return incident.ExportIncident{Incident: inc, Entries: entries}, nil
}

package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/incident"
)

// Exporter writes timeline exports with their chain hashes, for offline
// verification (internal/app's TimelineExporter over the store). Both
// methods fail before writing anything when the export cannot be made.
type Exporter interface {
	// ExportIncident writes one incident with its timeline; an unknown
	// incident is an error wrapping incident.ErrNotFound.
	ExportIncident(ctx context.Context, id int64, format string, w io.Writer) error
	// ExportPeriod writes the incidents opened in [since, until) (a zero
	// bound is open); too many is an error wrapping
	// incident.ErrExportTooLarge.
	ExportPeriod(ctx context.Context, since, until time.Time, format string, w io.Writer) error
}

// exportWriteTimeout bounds writing one export, longer than the server's
// write timeout that suits ordinary responses.
const exportWriteTimeout = 10 * time.Minute

func (h *handler) routeExports(mux *http.ServeMux) {
	if h.opts.Exports == nil {
		return
	}
	mux.Handle("GET /api/v1/incidents/{id}/export", h.opts.protect(auth.RoleViewer, h.exportIncident))
	mux.Handle("GET /api/v1/export", h.opts.protect(auth.RoleViewer, h.exportPeriod))
}

// exportIncident serves GET /api/v1/incidents/{id}/export?format=json|csv.
func (h *handler) exportIncident(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "id: want a positive integer")
		return
	}
	f, err := incident.ParseExportFormat(r.URL.Query().Get("format"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	name := fmt.Sprintf("secopsd-incident-%d-timeline.%s", id, f)
	h.streamExport(w, r, f, name, func(out io.Writer) error {
		return h.opts.Exports.ExportIncident(r.Context(), id, string(f), out)
	})
}

// exportPeriod serves GET /api/v1/export?since=&until=&format=json|csv:
// the incidents opened in the period, each with its whole timeline.
func (h *handler) exportPeriod(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := incident.ParseExportFormat(q.Get("format"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if q.Get("since") == "" {
		writeError(w, http.StatusBadRequest, "since: required (YYYY-MM-DD or RFC 3339)")
		return
	}
	since, err := incident.ParsePeriodBound(q.Get("since"), false)
	if err != nil {
		writeError(w, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	var until time.Time
	if s := q.Get("until"); s != "" {
		if until, err = incident.ParsePeriodBound(s, true); err != nil {
			writeError(w, http.StatusBadRequest, "until: "+err.Error())
			return
		}
		if !until.After(since) {
			writeError(w, http.StatusBadRequest, "until: want a time after since")
			return
		}
	}
	name := "secopsd-timeline-" + since.Format("20060102")
	if !until.IsZero() {
		name += "-" + until.Format("20060102")
	}
	name += "." + string(f)
	h.streamExport(w, r, f, name, func(out io.Writer) error {
		return h.opts.Exports.ExportPeriod(r.Context(), since, until, string(f), out)
	})
}

// streamExport runs write, sending the download headers with the first
// byte. An error before that answers with a status; an error after it
// aborts the response, so that the client sees a failed download rather
// than a shorter export that might look complete.
func (h *handler) streamExport(w http.ResponseWriter, r *http.Request, f incident.ExportFormat, filename string, write func(io.Writer) error) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	dw := &downloadWriter{w: w, contentType: f.ContentType(), filename: filename}
	err := write(dw)
	switch {
	case err == nil:
		if !dw.started {
			dw.start()
		}
	case dw.started:
		h.logger.Error("export failed while streaming", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	case errors.Is(err, incident.ErrNotFound):
		writeError(w, http.StatusNotFound, "incident "+r.PathValue("id")+" not found")
	case errors.Is(err, incident.ErrExportTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
	default:
		h.internalError(w, "export", err)
	}
}

// downloadWriter sends the attachment headers before the first byte.
type downloadWriter struct {
	w           http.ResponseWriter
	contentType string
	filename    string
	started     bool
}

func (d *downloadWriter) start() {
	d.started = true
	h := d.w.Header()
	h.Set("Content-Type", d.contentType)
	h.Set("Content-Disposition", `attachment; filename="`+d.filename+`"`)
	d.w.WriteHeader(http.StatusOK)
}

func (d *downloadWriter) Write(p []byte) (int, error) {
	if !d.started {
		d.start()
	}
	return d.w.Write(p)
}

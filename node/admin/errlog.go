package admin

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// DefaultRecentErrors is how many log records an ErrorLog keeps.
const DefaultRecentErrors = 50

// LogRecord is one warning or error the node logged.
type LogRecord struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
	// Attrs are the record's attributes as "key=value" pairs, groups
	// dotted ("component=cluster err=...").
	Attrs string `json:"attrs,omitempty"`
}

// ErrorLog keeps the most recent warnings and errors of a logger for the
// web view. Wrap the node's log handler with Handler before anything logs
// through it; Records reads them back. Safe for concurrent use; a record
// costs one short critical section, so logging never waits on readers for
// long.
type ErrorLog struct {
	mu   sync.Mutex
	ring []LogRecord
	next int
	full bool
}

// NewErrorLog keeps the last n records (DefaultRecentErrors when n <= 0).
func NewErrorLog(n int) *ErrorLog {
	if n <= 0 {
		n = DefaultRecentErrors
	}
	return &ErrorLog{ring: make([]LogRecord, n)}
}

// Handler returns a handler that passes every record to next and keeps
// those at slog.LevelWarn and above.
func (e *ErrorLog) Handler(next slog.Handler) slog.Handler {
	return &errorHandler{log: e, next: next}
}

// Records appends the kept records to dst, oldest first.
func (e *ErrorLog) Records(dst []LogRecord) []LogRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.full {
		dst = append(dst, e.ring[e.next:]...)
	}
	return append(dst, e.ring[:e.next]...)
}

func (e *ErrorLog) add(r LogRecord) {
	e.mu.Lock()
	e.ring[e.next] = r
	e.next++
	if e.next == len(e.ring) {
		e.next, e.full = 0, true
	}
	e.mu.Unlock()
}

// errorHandler tees records at Warn and above into an ErrorLog. prefix
// holds the attributes and groups added by WithAttrs/WithGroup.
type errorHandler struct {
	log    *ErrorLog
	next   slog.Handler
	prefix string // formatted attributes of WithAttrs, with their groups
	group  string // open group path, "a.b." style
}

func (h *errorHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *errorHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		b.WriteString(h.prefix)
		r.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.group, a)
			return true
		})
		t := r.Time
		if t.IsZero() {
			t = time.Now()
		}
		h.log.add(LogRecord{Time: t, Level: r.Level.String(), Message: r.Message, Attrs: strings.TrimSpace(b.String())})
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *errorHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range as {
		appendAttr(&b, h.group, a)
	}
	return &errorHandler{log: h.log, next: h.next.WithAttrs(as), prefix: b.String(), group: h.group}
}

func (h *errorHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &errorHandler{log: h.log, next: h.next.WithGroup(name), prefix: h.prefix, group: h.group + name + "."}
}

func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			appendAttr(b, g, ga)
		}
		return
	}
	fmt.Fprintf(b, " %s%s=%v", group, a.Key, a.Value.Any())
}

// Package tally counts failures that happen on a request path instead of
// logging them. A log line written when a source's submission fails (a full
// disk, a failed write, a lapsed key) carries the time of that submission to
// the second; a line per event is a timeline of sources' activity, which the
// design forbids. So request paths call Add, and the relay reports the counts
// at times no source chose: once a day with the retention pass, at shutdown,
// and in `relay status` (see relay/admin).
//
// A count tells an admin that something needs attention and what the last
// error was; it never tells when, beyond the day of the report.
package tally

import (
	"slices"
	"strings"
	"sync"
)

// Entry is the count of one kind of event.
type Entry struct {
	Kind  string `json:"kind"`  // what failed, e.g. "intake: submission failed"
	Count uint64 `json:"count"` // how many times
	// LastError is the text of the last error of this kind (no time). It
	// passes the same scrubbing as the log before it is shown.
	LastError string `json:"last_error,omitempty"`
}

// Tally is a set of event counters. The nil *Tally is valid and counts
// nothing, so packages can leave it unset in tests. A Tally is safe for
// concurrent use.
type Tally struct {
	mu    sync.Mutex
	total map[string]*Entry // since the Tally was made
	fresh map[string]*Entry // since the last Take
}

// New returns an empty Tally.
func New() *Tally {
	return &Tally{total: map[string]*Entry{}, fresh: map[string]*Entry{}}
}

// Add counts one event of kind. err, when not nil, becomes the kind's last
// error. kind must be a constant of the caller's, never input.
func (t *Tally) Add(kind string, err error) {
	if t == nil {
		return
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range []map[string]*Entry{t.total, t.fresh} {
		e := m[kind]
		if e == nil {
			e = &Entry{Kind: kind}
			m[kind] = e
		}
		e.Count++
		if msg != "" {
			e.LastError = msg
		}
	}
}

// Total returns the counts since the Tally was made, by kind.
func (t *Tally) Total() []Entry {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return sorted(t.total)
}

// Take returns the counts since the previous Take and starts afresh: the
// periodic report logs what happened since the last one.
func (t *Tally) Take() []Entry {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := sorted(t.fresh)
	t.fresh = map[string]*Entry{}
	return out
}

func sorted(m map[string]*Entry) []Entry {
	out := make([]Entry, 0, len(m))
	for _, e := range m {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Kind, b.Kind) })
	return out
}

package admin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"postern/relay/config"
)

// retentionOffset is how long after UTC midnight the daily pass runs. Dates are
// day-granular, so items become due at midnight; the offset keeps the pass clear
// of the day boundary itself.
const retentionOffset = 5 * time.Minute

// Due counts items by kind.
type Due struct {
	Messages int `json:"messages"` // message records over all mailboxes
	Replies  int `json:"replies"`
}

// RetentionStatus is what `relay status` shows about retention.
type RetentionStatus struct {
	Days int `json:"days"` // 0 = kept forever
	// Overdue is what a pass would remove right now (normally zero while a
	// relay runs); DueDay and DueWeek add what becomes due within a day and a
	// week.
	Overdue Due `json:"overdue"`
	DueDay  Due `json:"due_next_day"`
	DueWeek Due `json:"due_next_week"`
	// NextRun and LastRun (RFC 3339, UTC) are set when a running relay answers.
	NextRun   string `json:"next_run,omitempty"`
	LastRun   string `json:"last_run,omitempty"`
	LastError string `json:"last_error,omitempty"`
	Removed   Due    `json:"last_removed"`
}

// retention is the state of the daily pass in a running relay.
type retention struct {
	mu        sync.Mutex
	next      time.Time
	last      time.Time
	lastErr   string
	lastCount Due
}

// retentionCutoff is the date before which items are removed today: an item
// dated day D is kept for `days` days (D … D+days-1) and removed on D+days.
func retentionCutoff(now time.Time, days int) time.Time {
	return utcDay(now).AddDate(0, 0, -(days - 1))
}

// Expired reports a retention pass.
type Expired struct {
	Days     int `json:"days"`
	Messages int `json:"messages"`
	Replies  int `json:"replies"`
}

// RunRetention removes every submission, mailbox message and reply older than
// retention_days (nothing when it is 0), tells IMAP sessions, shreds the blobs
// and compacts the database (store.Expire).
func (a *Admin) RunRetention(ctx context.Context) (Expired, error) {
	days := a.cfg.RetentionDays
	res := Expired{Days: days}
	pol, active, err := a.retention(a.now())
	if err != nil || !active {
		return res, err
	}
	n, err := a.st.ExpireRetention(pol)
	res.Messages, res.Replies = n.Messages, n.Replies
	a.ret.mu.Lock()
	a.ret.last = a.now().UTC()
	a.ret.lastCount = Due{n.Messages, n.Replies}
	a.ret.lastErr = ""
	if err != nil {
		a.ret.lastErr = err.Error()
	}
	a.ret.mu.Unlock()
	if err != nil {
		a.log.Error("retention pass failed", "err", err)
		return res, fail(ErrInternal, "retention: %v", err)
	}
	if n.Messages+n.Replies > 0 {
		a.log.Info("retention pass removed old items", "messages", n.Messages, "replies", n.Replies)
	}
	return res, nil
}

// RetentionLoop runs the daily pass now and then shortly after each UTC
// midnight, until ctx ends: the retention pass (when retention_days is set)
// and the report of lapsed keys and counted failures (report.go), which is
// the only time those reach the log. `relay serve` and `relay demo` run it
// beside their services. A failed pass is logged and retried at the next
// run; it never stops the relay.
func (a *Admin) RetentionLoop(ctx context.Context) {
	for {
		_, active, _ := a.retention(a.now())
		if active {
			a.RunRetention(ctx)
		}
		a.Report()
		now := a.now()
		next := utcDay(now).AddDate(0, 0, 1).Add(retentionOffset)
		if active {
			a.ret.mu.Lock()
			a.ret.next = next.UTC()
			a.ret.mu.Unlock()
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// RetentionStatus counts what is due and reports the schedule.
func (a *Admin) RetentionStatus(ctx context.Context) (RetentionStatus, error) {
	days := a.cfg.RetentionDays
	rs := RetentionStatus{Days: days}
	now := a.now()
	if _, active, err := a.retention(now); err != nil {
		return rs, err
	} else if active {
		for _, c := range []struct {
			ahead int
			into  *Due
		}{{0, &rs.Overdue}, {1, &rs.DueDay}, {7, &rs.DueWeek}} {
			pol, _, err := a.retention(now.AddDate(0, 0, c.ahead))
			if err != nil {
				return rs, err
			}
			n, err := a.st.ExpiringRetention(pol)
			if err != nil {
				return rs, fail(ErrInternal, "%v", err)
			}
			*c.into = Due{n.Messages, n.Replies}
		}
	}
	a.ret.mu.Lock()
	defer a.ret.mu.Unlock()
	if !a.ret.next.IsZero() {
		rs.NextRun = a.ret.next.Format(time.RFC3339)
	}
	if !a.ret.last.IsZero() {
		rs.LastRun = a.ret.last.Format(time.RFC3339)
		rs.Removed = a.ret.lastCount
		rs.LastError = a.ret.lastErr
	}
	return rs, nil
}

// Compacted reports `relay compact`.
type Compacted struct {
	Before int64 `json:"bytes_before"`
	After  int64 `json:"bytes_after"`
}

// Compact rewrites the database so that deleted records are gone from the
// file (bbolt keeps them readable in freed pages) and the file shrinks.
func (a *Admin) Compact(ctx context.Context) (Compacted, error) {
	path := filepath.Join(a.st.Dir(), "postern.db")
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	c := Compacted{Before: size()}
	if err := a.st.Compact(); err != nil {
		return c, fail(ErrInternal, "%v", err)
	}
	c.After = size()
	a.log.Info("database compacted")
	return c, nil
}

// retentionWarnings adds status warnings about retention.
func retentionWarnings(rs RetentionStatus, cfg config.Config) []string {
	if rs.LastError != "" && cfg.RetentionDays > 0 {
		return []string{fmt.Sprintf("the last retention pass failed (%s); it is retried daily", rs.LastError)}
	}
	return nil
}

// StartRetention runs RetentionLoop in its own goroutine; stop ends it, waits
// for a pass in progress and reports what was counted since the last report,
// so the caller may close the store afterwards.
func (a *Admin) StartRetention(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.RetentionLoop(ctx)
	}()
	return func() { cancel(); <-done; a.Report() }
}

package admin

import (
	"context"
	"errors"
	"strings"
	"time"

	"postern/mailbox/store"
)

// SourceInfo is what `relay source list` shows of a source: its non-secret
// designation, coarse dates and counts. Nothing else about a source leaves the
// store through the admin interface.
type SourceInfo struct {
	Designation string `json:"designation"`
	Created     string `json:"created"`     // UTC day
	LastActive  string `json:"last_active"` // UTC day
	Messages    int    `json:"messages"`    // submissions held (one per submission, however many journalists got it)
	Replies     int    `json:"replies"`
	Desk        string `json:"desk"` // the desk it writes to (desk.go)
}

// SourceDeleted reports a deletion.
type SourceDeleted struct {
	Designation string `json:"designation"`
	Messages    int    `json:"messages"`
	Replies     int    `json:"replies"`
}

// Pruned reports `relay source prune`.
type Pruned struct {
	InactiveDays int             `json:"inactive_days"`
	Deleted      []SourceDeleted `json:"deleted"`
}

func sourceInfo(s store.SourceSummary) SourceInfo {
	return SourceInfo{Designation: s.Designation, Created: day(s.Created), LastActive: day(s.LastActive),
		Messages: s.Messages, Replies: s.Replies, Desk: s.Desk}
}

// SourceList lists every source, sorted by designation.
func (a *Admin) SourceList(ctx context.Context) ([]SourceInfo, error) {
	sums, err := a.st.Sources()
	if err != nil {
		return nil, fail(ErrInternal, "%v", err)
	}
	out := make([]SourceInfo, 0, len(sums))
	for _, s := range sums {
		out = append(out, sourceInfo(s))
	}
	return out, nil
}

// validDesignation keeps designations to what codename.NewDesignation makes:
// a few words. It stops garbage before it reaches the store or an error line.
func validDesignation(d string) error {
	if strings.TrimSpace(d) == "" || len(d) > 100 {
		return fail(ErrInvalid, "bad designation %q: give it as 'relay source list' shows it, in quotes", clip(d))
	}
	for _, r := range d {
		if r < 0x20 || r == 0x7f {
			return fail(ErrInvalid, "bad designation %q", clip(d))
		}
	}
	return nil
}

// SourceDelete deletes a source and everything of theirs: every copy of every
// submission in every journalist's mailbox (idling IMAP clients are told), every
// reply, the source record; blob files are overwritten then removed and the
// database is compacted, in the store's one DeleteSource call.
func (a *Admin) SourceDelete(ctx context.Context, designation string) (SourceDeleted, error) {
	if err := validDesignation(designation); err != nil {
		return SourceDeleted{}, err
	}
	src, err := a.st.SourceByDesignation(designation)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return SourceDeleted{}, fail(ErrNotFound, "no source designated %q ('relay source list' shows them)", clip(designation))
		}
		return SourceDeleted{}, fail(ErrInternal, "%v", err)
	}
	return a.deleteSource(src)
}

func (a *Admin) deleteSource(src store.Source) (SourceDeleted, error) {
	res := SourceDeleted{Designation: src.Designation}
	if sums, err := a.st.Sources(); err == nil {
		for _, s := range sums {
			if string(s.ID) == string(src.ID) {
				res.Messages, res.Replies = s.Messages, s.Replies
			}
		}
	}
	if err := a.st.DeleteSource(src.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return SourceDeleted{}, fail(ErrNotFound, "source %q is already gone", clip(src.Designation))
		}
		return SourceDeleted{}, fail(ErrInternal, "deleting source: %v", err)
	}
	// No designation in the log: a log line per deletion would be a record
	// of which source the newsroom dropped when.
	a.log.Info("source deleted")
	return res, nil
}

// SourcePrune deletes every source whose last activity (a login or a
// submission, to the day) is at least inactiveDays days ago.
func (a *Admin) SourcePrune(ctx context.Context, inactiveDays int) (Pruned, error) {
	if inactiveDays < 1 || inactiveDays > 100_000 {
		return Pruned{}, fail(ErrInvalid, "--inactive must be a number of days from 1 to 100000")
	}
	sums, err := a.st.Sources()
	if err != nil {
		return Pruned{}, fail(ErrInternal, "%v", err)
	}
	cutoff := utcDay(a.now()).AddDate(0, 0, -inactiveDays)
	res := Pruned{InactiveDays: inactiveDays, Deleted: []SourceDeleted{}}
	var ids [][]byte
	for _, s := range sums {
		last := s.LastActive
		if last.IsZero() {
			last = s.Created
		}
		if last.After(cutoff) {
			continue
		}
		ids = append(ids, s.ID)
		res.Deleted = append(res.Deleted, SourceDeleted{Designation: s.Designation, Messages: s.Messages, Replies: s.Replies})
	}
	if len(ids) == 0 {
		return res, nil
	}
	if err := ctxErr(ctx); err != nil {
		return Pruned{}, err
	}
	// One transaction and one compaction for all of them.
	if _, err := a.st.DeleteSources(ids); err != nil {
		return Pruned{}, fail(ErrInternal, "pruning sources: %v", err)
	}
	a.log.Info("inactive sources deleted", "count", len(ids))
	return res, nil
}

func utcDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

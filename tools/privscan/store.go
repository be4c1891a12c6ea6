package privscan

import (
	"encoding/hex"
	"fmt"
	"time"

	"postern/mailbox/store"
)

// StoreDates reads every date the store keeps about sources and their
// messages through the store's own API (sources, every journalist's
// mailboxes, replies) and reports each that is not zero or a UTC midnight.
// It complements Dates, which reads the raw file: this one does not depend
// on how the store encodes a date.
func StoreDates(st *store.Store) ([]Hit, error) {
	var hits []Hit
	check := func(where string, t time.Time) {
		if t.IsZero() {
			return
		}
		u := t.UTC()
		if u.Hour() != 0 || u.Minute() != 0 || u.Second() != 0 || u.Nanosecond() != 0 {
			hits = append(hits, Hit{FineDate, where, -1, t.Format(time.RFC3339Nano)})
		}
	}
	srcs, err := st.Sources()
	if err != nil {
		return nil, fmt.Errorf("privscan: %w", err)
	}
	for _, s := range srcs {
		id := "source " + hex.EncodeToString(s.ID[:min(4, len(s.ID))])
		check(id+" created", s.Created)
		check(id+" last active", s.LastActive)
		rs, err := st.Replies(s.ID)
		if err != nil {
			return nil, fmt.Errorf("privscan: %w", err)
		}
		for _, r := range rs {
			check(id+" reply "+r.ID, r.Created)
		}
	}
	js, err := st.Journalists()
	if err != nil {
		return nil, fmt.Errorf("privscan: %w", err)
	}
	for _, j := range js {
		check("journalist "+j.Name+" created", j.Created)
		boxes, err := st.Mailboxes(j.Name)
		if err != nil {
			return nil, fmt.Errorf("privscan: %w", err)
		}
		for _, b := range boxes {
			ms, err := st.Messages(j.Name, b.Name)
			if err != nil {
				return nil, fmt.Errorf("privscan: %w", err)
			}
			for _, m := range ms {
				check(fmt.Sprintf("%s/%s uid %d", j.Name, b.Name, m.UID), m.Date)
			}
		}
	}
	return hits, nil
}

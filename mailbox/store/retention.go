package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Expired counts what a retention pass removed (or, from Expiring, would
// remove).
type Expired struct {
	Messages int // message records, over every journalist's mailboxes
	Replies  int
}

// Expire removes every message (in every journalist's mailbox) and every reply
// dated before the UTC day of before, in one transaction: IMAP sessions get
// EventExpunge for each mailbox touched, blobs left without references are
// overwritten and removed, and then the database is compacted so the removed
// records do not linger in freed pages. Dates are day-granular, so a message
// from day D is removed by a pass with before = D+1 or later. A message or reply
// without a date (none are written so) is kept.
//
// This is how the relay enforces retention_days: the server removes old mail
// from the journalists' mailboxes itself instead of trusting every client to.
func (s *Store) Expire(before time.Time) (Expired, error) {
	return s.ExpireRetention(Retention{Default: before})
}

// Retention says before which day mail is removed. Default applies to the
// mail of sources whose desk has no retention of its own and to mail of no
// source; Desks holds the cutoff of each desk with its own. A zero time keeps
// everything.
type Retention struct {
	Default time.Time
	Desks   map[string]time.Time
}

// cutoffs resolves r into a function from a message's or reply's source id
// to its cutoff day (0: keep).
func (r Retention) cutoffs(tx *bolt.Tx) (func(src []byte) int64, error) {
	def := dayUnix(r.Default)
	bySource := map[string]int64{}
	if len(r.Desks) > 0 {
		err := tx.Bucket(bSources).ForEach(func(k, _ []byte) error {
			var rec sourceRec
			if err := getJSON(tx.Bucket(bSources), k, &rec); err != nil {
				return err
			}
			if c, ok := r.Desks[rec.Desk]; ok {
				bySource[string(k)] = dayUnix(c)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return func(src []byte) int64 {
		if c, ok := bySource[string(src)]; ok && src != nil {
			return c
		}
		return def
	}, nil
}

// ExpireRetention is Expire with a cutoff per desk (a desk's retention
// overrides the instance's).
func (s *Store) ExpireRetention(r Retention) (Expired, error) {
	defer s.dropMapped()
	var n Expired
	err := s.update("expire", func(tx *bolt.Tx, st *txState) error {
		n = Expired{}
		cutoff, err := r.cutoffs(tx)
		if err != nil {
			return err
		}
		byID, err := mailboxesByID(tx)
		if err != nil {
			return err
		}
		for _, m := range byID {
			old, err := expiringUIDs(tx, m, cutoff)
			if err != nil {
				return err
			}
			for _, uid := range old {
				if _, err := st.removeMessage(tx, m, uid, true); err != nil {
					return err
				}
				n.Messages++
			}
		}
		reps := tx.Bucket(bReplies)
		var srcs [][]byte
		if err := reps.ForEachBucket(func(k []byte) error {
			srcs = append(srcs, append([]byte(nil), k...))
			return nil
		}); err != nil {
			return err
		}
		for _, src := range srcs {
			rb := reps.Bucket(src)
			cut := cutoff(src)
			type dead struct {
				key  []byte
				blob string
			}
			var old []dead
			if err := rb.ForEach(func(k, v []byte) error {
				var r replyRec
				if err := getJSON(rb, k, &r); err != nil {
					return err
				}
				if r.Created != 0 && r.Created < cut {
					old = append(old, dead{append([]byte(nil), k...), r.Blob})
				}
				return nil
			}); err != nil {
				return err
			}
			for _, d := range old {
				if err := rb.Delete(d.key); err != nil {
					return err
				}
				if err := st.unref(tx, d.blob); err != nil {
					return err
				}
				n.Replies++
			}
		}
		return nil
	})
	if err != nil {
		return Expired{}, err
	}
	if n.Messages+n.Replies == 0 {
		return n, nil
	}
	if err := s.Compact(); err != nil {
		return n, fmt.Errorf("store: expire: records removed, but %w", err)
	}
	return n, nil
}

// Expiring counts what Expire(before) would remove now, without changing
// anything (for `relay status`).
func (s *Store) Expiring(before time.Time) (Expired, error) {
	return s.ExpiringRetention(Retention{Default: before})
}

// ExpiringRetention counts what ExpireRetention(r) would remove now.
func (s *Store) ExpiringRetention(r Retention) (Expired, error) {
	defer s.dropMapped()
	var n Expired
	err := s.view(func(tx *bolt.Tx) error {
		cutoff, err := r.cutoffs(tx)
		if err != nil {
			return err
		}
		byID, err := mailboxesByID(tx)
		if err != nil {
			return err
		}
		for _, m := range byID {
			old, err := expiringUIDs(tx, m, cutoff)
			if err != nil {
				return err
			}
			n.Messages += len(old)
		}
		reps := tx.Bucket(bReplies)
		return reps.ForEachBucket(func(k []byte) error {
			rb := reps.Bucket(k)
			cut := cutoff(k)
			return rb.ForEach(func(k, v []byte) error {
				var r replyRec
				if err := getJSON(rb, k, &r); err != nil {
					return err
				}
				if r.Created != 0 && r.Created < cut {
					n.Replies++
				}
				return nil
			})
		})
	})
	if err != nil {
		return Expired{}, fmt.Errorf("store: expiring: %w", err)
	}
	return n, nil
}

// expiringUIDs lists the UIDs of m's messages dated before the cutoff (unix
// day) of their source.
func expiringUIDs(tx *bolt.Tx, m *mbox, cutoff func(src []byte) int64) ([]uint32, error) {
	b, err := m.msgs(tx)
	if err != nil {
		return nil, err
	}
	var out []uint32
	err = b.ForEach(func(k, v []byte) error {
		var rec messageRec
		if err := getJSON(b, k, &rec); err != nil {
			return err
		}
		if rec.Date != 0 && rec.Date < cutoff(rec.Source) {
			out = append(out, beUint32(k))
		}
		return nil
	})
	return out, err
}

// DeleteSources deletes several sources as DeleteSource does, in one
// transaction followed by one compaction (relay source prune). Ids that name
// no source are skipped; deleted counts the others.
func (s *Store) DeleteSources(ids [][]byte) (deleted int, err error) {
	err = s.update("delete sources", func(tx *bolt.Tx, st *txState) error {
		deleted = 0
		for _, id := range ids {
			if _, err := getSource(tx, id); errors.Is(err, ErrNotFound) {
				continue
			}
			if err := st.deleteSource(tx, id); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if deleted == 0 {
		return 0, nil
	}
	if err := s.Compact(); err != nil {
		return deleted, fmt.Errorf("store: delete sources: records deleted, but %w", err)
	}
	return deleted, nil
}

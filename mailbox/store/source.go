package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

const sourceIDLen = 32

// sourceRec is a Source as stored (the id is the key).
type sourceRec struct {
	Designation string `json:"d"`
	Address     string `json:"a"`
	PublicKey   []byte `json:"k,omitempty"`
	Fingerprint string `json:"f,omitempty"`
	ThreadID    string `json:"t,omitempty"`
	Created     int64  `json:"c,omitempty"`
	LastActive  int64  `json:"l,omitempty"`
	Desk        string `json:"w,omitempty"` // slug; empty only before migration 0002
}

func (r sourceRec) source(id []byte) Source {
	return Source{
		ID:          append([]byte(nil), id...),
		Designation: r.Designation,
		Address:     r.Address,
		PublicKey:   r.PublicKey,
		Fingerprint: r.Fingerprint,
		ThreadID:    r.ThreadID,
		Created:     unixDay(r.Created),
		LastActive:  unixDay(r.LastActive),
		Desk:        r.Desk,
	}
}

func indexKey(s string) []byte { return []byte(strings.ToLower(strings.TrimSpace(s))) }

// CreateSource records a new source. ErrExists if its id, designation or address
// (both compared case-insensitively) is taken. Dates default to today. Its desk
// must exist (ErrNotFound); an empty Desk means the instance's only desk, and
// is refused when there are several.
func (s *Store) CreateSource(src Source) error {
	if len(src.ID) != sourceIDLen {
		return fmt.Errorf("store: create source: id must be %d bytes", sourceIDLen)
	}
	if strings.TrimSpace(src.Designation) == "" || strings.TrimSpace(src.Address) == "" {
		return errors.New("store: create source: designation and address are required")
	}
	today := s.today()
	if src.Created.IsZero() {
		src.Created = today
	}
	if src.LastActive.IsZero() {
		src.LastActive = src.Created
	}
	rec := sourceRec{
		Designation: src.Designation,
		Address:     string(indexKey(src.Address)),
		PublicKey:   src.PublicKey,
		Fingerprint: src.Fingerprint,
		ThreadID:    src.ThreadID,
		Created:     dayUnix(src.Created),
		LastActive:  dayUnix(src.LastActive),
	}
	return s.update("create source", func(tx *bolt.Tx, st *txState) error {
		sb, ab, db := tx.Bucket(bSources), tx.Bucket(bSrcAddr), tx.Bucket(bSrcDesig)
		addr, desig := indexKey(src.Address), indexKey(src.Designation)
		if sb.Get(src.ID) != nil || ab.Get(addr) != nil || db.Get(desig) != nil {
			return ErrExists
		}
		desk, err := sourceDesk(tx, src.Desk)
		if err != nil {
			return err
		}
		rec.Desk = desk
		if err := putJSON(sb, src.ID, rec); err != nil {
			return err
		}
		if err := ab.Put(addr, src.ID); err != nil {
			return err
		}
		return db.Put(desig, src.ID)
	})
}

// Source returns a source by id, or ErrNotFound.
func (s *Store) Source(id []byte) (Source, error) {
	var src Source
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		src, err = getSource(tx, id)
		return err
	})
	if err != nil {
		return Source{}, fmt.Errorf("store: source: %w", err)
	}
	return src, nil
}

func getSource(tx *bolt.Tx, id []byte) (Source, error) {
	if len(id) != sourceIDLen {
		return Source{}, ErrNotFound
	}
	var rec sourceRec
	if err := getJSON(tx.Bucket(bSources), id, &rec); err != nil {
		return Source{}, err
	}
	return rec.source(id), nil
}

// SourceByAddress finds a source by its address, case-insensitively.
func (s *Store) SourceByAddress(addr string) (Source, error) {
	return s.sourceBy(bSrcAddr, addr)
}

// SourceByDesignation finds a source by its designation, case-insensitively.
func (s *Store) SourceByDesignation(d string) (Source, error) {
	return s.sourceBy(bSrcDesig, d)
}

func (s *Store) sourceBy(index []byte, key string) (Source, error) {
	var src Source
	err := s.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(index).Get(indexKey(key))
		if id == nil {
			return ErrNotFound
		}
		var err error
		src, err = getSource(tx, id)
		return err
	})
	if err != nil {
		return Source{}, fmt.Errorf("store: source: %w", err)
	}
	return src, nil
}

// Sources lists all sources with their counts, sorted by designation. Messages
// counts distinct submissions (one blob delivered to several journalists is one).
func (s *Store) Sources() ([]SourceSummary, error) {
	var out []SourceSummary
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bSources).ForEach(func(k, v []byte) error {
			var rec sourceRec
			if err := getJSON(tx.Bucket(bSources), k, &rec); err != nil {
				return err
			}
			sum := SourceSummary{Source: rec.source(k)}
			if mb := tx.Bucket(bSrcMsgs).Bucket(k); mb != nil {
				blobs := map[string]bool{}
				if err := mb.ForEach(func(_, blob []byte) error {
					blobs[string(blob)] = true
					return nil
				}); err != nil {
					return err
				}
				sum.Messages = len(blobs)
			}
			if rb := tx.Bucket(bReplies).Bucket(k); rb != nil {
				sum.Replies = rb.Stats().KeyN
			}
			out = append(out, sum)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: sources: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Designation < out[j].Designation })
	return out, nil
}

// TouchSource sets LastActive to today. It writes only when the day changed: a
// write transaction, even one that changes nothing, rewrites bbolt's meta page,
// and the kernel then stamps postern.db's change time (which no program can set
// back) with the second of a source's login-only visit.
func (s *Store) TouchSource(id []byte) error {
	today := dayUnix(s.today())
	current := false
	err := s.view(func(tx *bolt.Tx) error {
		var rec sourceRec
		if err := getJSON(tx.Bucket(bSources), id, &rec); err != nil {
			return err
		}
		current = rec.LastActive == today
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: touch source: %w", err)
	}
	if current {
		return nil
	}
	return s.update("touch source", func(tx *bolt.Tx, st *txState) error {
		sb := tx.Bucket(bSources)
		var rec sourceRec
		if err := getJSON(sb, id, &rec); err != nil {
			return err
		}
		if rec.LastActive == today {
			return nil
		}
		rec.LastActive = today
		return putJSON(sb, id, rec)
	})
}

// DeleteSource removes a source with every submission (in every journalist's
// mailboxes), every reply and its records, in one transaction; then the blobs no
// longer referenced are overwritten and removed, and the database is compacted so the
// source's id and designation do not linger in bbolt's freed pages.
func (s *Store) DeleteSource(id []byte) error {
	err := s.update("delete source", func(tx *bolt.Tx, st *txState) error {
		return st.deleteSource(tx, id)
	})
	if err != nil {
		return err
	}
	if err := s.Compact(); err != nil {
		return fmt.Errorf("store: delete source: records deleted, but %w", err)
	}
	return nil
}

// ErrSourceInUse means DeleteSourceIfUnused found messages or replies.
var ErrSourceInUse = errors.New("store: the source has messages or replies")

// DeleteSourceIfUnused removes a source record that holds nothing yet (no
// message in any mailbox, no reply), in one transaction that checks it: the
// intake undoes a failed first submission with it, and must never take away
// what another request of the same source committed meanwhile. It returns
// ErrSourceInUse, and deletes nothing, when the source holds anything.
// Nothing of the source's reached a blob or a message, so no compaction is
// needed.
func (s *Store) DeleteSourceIfUnused(id []byte) error {
	return s.update("delete unused source", func(tx *bolt.Tx, st *txState) error {
		if b := tx.Bucket(bSrcMsgs).Bucket(id); b != nil && b.Stats().KeyN > 0 {
			return ErrSourceInUse
		}
		if b := tx.Bucket(bReplies).Bucket(id); b != nil && b.Stats().KeyN > 0 || hasPending(tx, id) {
			return ErrSourceInUse
		}
		return st.deleteSource(tx, id)
	})
}

// deleteSource removes one source and everything of theirs within tx.
func (st *txState) deleteSource(tx *bolt.Tx, id []byte) error {
	src, err := getSource(tx, id)
	if err != nil {
		return err
	}
	if err := st.deleteSourceMessages(tx, id); err != nil {
		return err
	}
	if err := st.deletePending(tx, id); err != nil {
		return err
	}
	if rb := tx.Bucket(bReplies).Bucket(id); rb != nil {
		if err := rb.ForEach(func(k, v []byte) error {
			var r replyRec
			if err := getJSON(rb, k, &r); err != nil {
				return err
			}
			return st.unref(tx, r.Blob)
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bReplies).DeleteBucket(id); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bSrcAddr).Delete(indexKey(src.Address)); err != nil {
		return err
	}
	if err := tx.Bucket(bSrcDesig).Delete(indexKey(src.Designation)); err != nil {
		return err
	}
	return tx.Bucket(bSources).Delete(id)
}

func (st *txState) deleteSourceMessages(tx *bolt.Tx, id []byte) error {
	idx := tx.Bucket(bSrcMsgs).Bucket(id)
	if idx == nil {
		return nil
	}
	var keys [][]byte
	if err := idx.ForEach(func(k, _ []byte) error {
		keys = append(keys, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	byID, err := mailboxesByID(tx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if len(k) != 12 {
			return errors.New("corrupt source index key")
		}
		m := byID[string(k[:8])]
		if m == nil {
			return errors.New("source index points at a missing mailbox (run check)")
		}
		if _, err := st.removeMessage(tx, m, beUint32(k[8:]), true); err != nil {
			return err
		}
	}
	return tx.Bucket(bSrcMsgs).DeleteBucket(id)
}

// mailboxesByID maps every mailbox's id (8 bytes BE, as a string) to the mailbox.
func mailboxesByID(tx *bolt.Tx) (map[string]*mbox, error) {
	out := map[string]*mbox{}
	all := tx.Bucket(bMailboxes)
	err := all.ForEachBucket(func(j []byte) error {
		jb := all.Bucket(j)
		return jb.ForEach(func(name, _ []byte) error {
			m := &mbox{j: string(j), name: string(name)}
			if err := getJSON(jb, name, &m.rec); err != nil {
				return err
			}
			out[string(u64(m.rec.ID))] = m
			return nil
		})
	})
	return out, err
}

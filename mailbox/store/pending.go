package store

import (
	"crypto/rand"
	"fmt"
	"math/big"

	bolt "go.etcd.io/bbolt"
)

// Pending deliveries: a submission accepted during a delivery window (see
// mailbox/delivery) is recorded here, durable and holding a reference to
// its blob, and reaches the mailboxes only when ReleasePending moves every
// pending delivery at once, in random order. The records live in their own
// bucket, created on first use, under random keys: neither their keys nor
// their order say when they arrived.
var bPending = []byte("pending") // random id (16 bytes) → pendingRec

type pendingRec struct {
	Blob        string   `json:"b"`
	Size        int64    `json:"z"`
	Source      []byte   `json:"s,omitempty"`
	Journalists []string `json:"j"`
	Meta        []byte   `json:"m,omitempty"`
}

// AddPending records d (an INBOX delivery to d.Journalists) as pending: the
// blob gains one reference and no mailbox changes.
func (s *Store) AddPending(d Delivery) error {
	if len(d.Journalists) == 0 {
		return fmt.Errorf("store: add pending: no journalist: %w", ErrNotFound)
	}
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("store: add pending: %w", err)
	}
	rec := pendingRec{Blob: d.Blob.ID, Size: d.Blob.Size, Source: d.SourceID,
		Journalists: d.Journalists, Meta: d.Meta}
	return s.update("add pending", func(tx *bolt.Tx, st *txState) error {
		if d.SourceID != nil {
			if _, err := getSource(tx, d.SourceID); err != nil {
				return fmt.Errorf("source: %w", err)
			}
		}
		b, err := tx.CreateBucketIfNotExists(bPending)
		if err != nil {
			return err
		}
		if err := putJSON(b, key, rec); err != nil {
			return err
		}
		return st.ref(tx, rec.Blob, rec.Size, 1)
	})
}

// PendingCount is how many deliveries wait for release.
func (s *Store) PendingCount() (int, error) {
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bPending); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: pending: %w", err)
	}
	return n, nil
}

// ReleasePending delivers every pending delivery into its journalists'
// INBOXes, in random order, in one transaction: UIDs are assigned now, and
// IMAP sessions hear of all of them together. A journalist removed meanwhile
// is skipped; a delivery with no journalist or source left is dropped. It
// returns how many deliveries were released.
func (s *Store) ReleasePending() (int, error) {
	n := 0
	err := s.update("release pending", func(tx *bolt.Tx, st *txState) error {
		b := tx.Bucket(bPending)
		if b == nil {
			return nil
		}
		var keys [][]byte
		var recs []pendingRec
		if err := b.ForEach(func(k, _ []byte) error {
			var r pendingRec
			if err := getJSON(b, k, &r); err != nil {
				return err
			}
			keys = append(keys, append([]byte(nil), k...))
			recs = append(recs, r)
			return nil
		}); err != nil {
			return err
		}
		if err := shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] }); err != nil {
			return err
		}
		day := dayUnix(s.opts.Now())
		for _, r := range recs {
			if err := st.releaseOne(tx, r, day); err != nil {
				return err
			}
			n++
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// releaseOne moves one pending delivery into the mailboxes and drops its
// pending reference.
func (st *txState) releaseOne(tx *bolt.Tx, r pendingRec, day int64) error {
	source := r.Source == nil
	if !source {
		_, err := getSource(tx, r.Source)
		source = err == nil
	}
	if source {
		rec := messageRec{Blob: r.Blob, Size: r.Size, Date: day, Source: r.Source}
		seen := map[string]bool{}
		for _, j := range r.Journalists {
			if seen[j] {
				continue
			}
			seen[j] = true
			m, err := getMailbox(tx, j, "INBOX")
			if err != nil {
				continue // removed since: the others still get it
			}
			if _, err := st.addMessage(tx, m, rec, r.Meta); err != nil {
				return err
			}
			if err := m.save(tx); err != nil {
				return err
			}
		}
	}
	return st.unref(tx, r.Blob)
}

// deletePending drops the pending deliveries of a deleted source.
func (st *txState) deletePending(tx *bolt.Tx, source []byte) error {
	b := tx.Bucket(bPending)
	if b == nil {
		return nil
	}
	var doomed [][]byte
	var blobs []string
	if err := b.ForEach(func(k, _ []byte) error {
		var r pendingRec
		if err := getJSON(b, k, &r); err != nil {
			return err
		}
		if string(r.Source) == string(source) {
			doomed = append(doomed, append([]byte(nil), k...))
			blobs = append(blobs, r.Blob)
		}
		return nil
	}); err != nil {
		return err
	}
	for i, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
		if err := st.unref(tx, blobs[i]); err != nil {
			return err
		}
	}
	return nil
}

// hasPending reports whether a source has a pending delivery.
func hasPending(tx *bolt.Tx, source []byte) bool {
	b := tx.Bucket(bPending)
	if b == nil {
		return false
	}
	found := false
	b.ForEach(func(k, v []byte) error {
		var r pendingRec
		if getJSON(b, k, &r) == nil && string(r.Source) == string(source) {
			found = true
		}
		return nil
	})
	return found
}

// pendingRefs calls count for every pending delivery's blob (Check).
func pendingRefs(tx *bolt.Tx, count func(id string, size int64, what string)) error {
	b := tx.Bucket(bPending)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, _ []byte) error {
		var r pendingRec
		if err := getJSON(b, k, &r); err != nil {
			return err
		}
		count(r.Blob, r.Size, "pending delivery")
		return nil
	})
}

// shuffle is a Fisher–Yates shuffle with crypto/rand: the release order
// must not be guessable from anything, arrival order included.
func shuffle(n int, swap func(i, j int)) error {
	for i := n - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return err
		}
		swap(i, int(j.Int64()))
	}
	return nil
}

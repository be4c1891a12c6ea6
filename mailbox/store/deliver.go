package store

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Deliver records a committed blob as a message in each recipient journalist's
// mailbox, in one transaction: either every copy is visible or none. The blob's
// reference count grows by the number of copies. A SourceID must name an existing
// source. If it fails, the blob stays unreferenced and the caller discards it.
func (s *Store) Deliver(d Delivery) error {
	mailbox := d.Mailbox
	if mailbox == "" {
		mailbox = "INBOX"
	}
	mailbox, err := normMailbox(mailbox)
	if err != nil {
		return fmt.Errorf("store: deliver: %w", err)
	}
	rec := messageRec{Blob: d.Blob.ID, Size: d.Blob.Size, Flags: normFlags(d.Flags),
		Date: dayUnix(s.opts.Now())}
	if d.SourceID != nil {
		rec.Source = append([]byte(nil), d.SourceID...)
	}
	return s.update("deliver", func(tx *bolt.Tx, st *txState) error {
		if d.SourceID != nil {
			if _, err := getSource(tx, d.SourceID); err != nil {
				return fmt.Errorf("source: %w", err)
			}
		}
		names := d.Journalists
		if names == nil {
			jb := tx.Bucket(bJournalists)
			if err := jb.ForEach(func(k, _ []byte) error {
				var r journalistRec
				if err := getJSON(jb, k, &r); err != nil {
					return err
				}
				if !r.System { // never the hidden selftest account
					names = append(names, string(k))
				}
				return nil
			}); err != nil {
				return err
			}
		}
		seen := map[string]bool{}
		for _, j := range names {
			if seen[j] {
				continue
			}
			seen[j] = true
			m, err := getMailbox(tx, j, mailbox)
			if err != nil {
				return err
			}
			if _, err := st.addMessage(tx, m, rec, d.Meta); err != nil {
				return err
			}
			if err := m.save(tx); err != nil {
				return err
			}
		}
		if len(seen) == 0 {
			return fmt.Errorf("no journalist to deliver to: %w", ErrNotFound)
		}
		return nil
	})
}

// replyRec is a Reply as stored under a per-source sequence number, so replies list
// in the order they were made.
type replyRec struct {
	ID      string `json:"i"`
	Blob    string `json:"b"`
	Size    int64  `json:"z"`
	Created int64  `json:"c,omitempty"`
	Dedup   []byte `json:"d,omitempty"` // Reply.Dedup
}

// ErrDuplicate means AddReply found a reply of the source with the same
// Reply.Dedup: nothing was stored.
var ErrDuplicate = errors.New("store: the source already has this reply")

// AddReply stores a reply (already encrypted to the source's key) and returns its
// new random id. Created defaults to today. With r.Dedup set it stores
// nothing and returns ErrDuplicate when a reply of the source carries the
// same value, checked in the same transaction.
func (s *Store) AddReply(r Reply) (string, error) {
	idb := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, idb); err != nil {
		return "", fmt.Errorf("store: add reply: %w", err)
	}
	if r.Created.IsZero() {
		r.Created = s.opts.Now()
	}
	rec := replyRec{ID: hex.EncodeToString(idb), Blob: r.Blob.ID, Size: r.Blob.Size, Created: dayUnix(r.Created), Dedup: r.Dedup}
	err := s.update("add reply", func(tx *bolt.Tx, st *txState) error {
		if _, err := getSource(tx, r.SourceID); err != nil {
			return fmt.Errorf("source: %w", err)
		}
		if seen, err := hasReply(tx, r.SourceID, r.Dedup); err != nil || seen {
			return cmp.Or(err, ErrDuplicate)
		}
		rb, err := tx.Bucket(bReplies).CreateBucketIfNotExists(r.SourceID)
		if err != nil {
			return err
		}
		seq, err := rb.NextSequence()
		if err != nil {
			return err
		}
		if err := putJSON(rb, u64(seq), rec); err != nil {
			return err
		}
		return st.ref(tx, rec.Blob, rec.Size, 1)
	})
	if err != nil {
		return "", err
	}
	return rec.ID, nil
}

// HasReply reports whether a reply of the source carries dedup (see
// Reply.Dedup). The keys live in the reply records, so they are bounded by
// the replies held and go with them: retention, DeleteReply, DeleteSource.
func (s *Store) HasReply(sourceID, dedup []byte) (bool, error) {
	var seen bool
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		seen, err = hasReply(tx, sourceID, dedup)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: has reply: %w", err)
	}
	return seen, nil
}

func hasReply(tx *bolt.Tx, sourceID, dedup []byte) (bool, error) {
	rb := tx.Bucket(bReplies).Bucket(sourceID)
	if len(dedup) == 0 || rb == nil {
		return false, nil
	}
	seen := false
	err := rb.ForEach(func(k, _ []byte) error {
		var r replyRec
		if err := getJSON(rb, k, &r); err != nil {
			return err
		}
		seen = seen || bytes.Equal(r.Dedup, dedup)
		return nil
	})
	return seen, err
}

// Replies lists a source's replies, oldest first.
func (s *Store) Replies(sourceID []byte) ([]Reply, error) {
	var out []Reply
	err := s.view(func(tx *bolt.Tx) error {
		if _, err := getSource(tx, sourceID); err != nil {
			return err
		}
		rb := tx.Bucket(bReplies).Bucket(sourceID)
		if rb == nil {
			return nil
		}
		return rb.ForEach(func(k, _ []byte) error {
			var r replyRec
			if err := getJSON(rb, k, &r); err != nil {
				return err
			}
			out = append(out, Reply{ID: r.ID, SourceID: append([]byte(nil), sourceID...),
				Blob: BlobRef{ID: r.Blob, Size: r.Size}, Created: unixDay(r.Created)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: replies: %w", err)
	}
	return out, nil
}

// DeleteReply removes one reply; its blob is overwritten and removed.
func (s *Store) DeleteReply(sourceID []byte, id string) error {
	return s.update("delete reply", func(tx *bolt.Tx, st *txState) error {
		rb := tx.Bucket(bReplies).Bucket(sourceID)
		if rb == nil {
			return ErrNotFound
		}
		var key []byte
		var found replyRec
		if err := rb.ForEach(func(k, _ []byte) error {
			var r replyRec
			if err := getJSON(rb, k, &r); err != nil {
				return err
			}
			if r.ID == id {
				key, found = append([]byte(nil), k...), r
			}
			return nil
		}); err != nil {
			return err
		}
		if key == nil {
			return ErrNotFound
		}
		if err := rb.Delete(key); err != nil {
			return err
		}
		return st.unref(tx, found.Blob)
	})
}

package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ClaimRecent records that an IMAP session took the messages up to upTo as
// \Recent (RFC 3501 2.3.2: a message is recent to one session only) and
// returns the mark before, so the session's recent messages are the UIDs in
// (prev, upTo]. A mark at or above upTo is left as it is (prev >= upTo: the
// session claims nothing); in that case nothing is written.
func (s *Store) ClaimRecent(j, mailbox string, upTo uint32) (prev uint32, err error) {
	mailbox, err = normMailbox(mailbox)
	if err != nil {
		return 0, fmt.Errorf("store: claim recent: %w", ErrNotFound)
	}
	err = s.view(func(tx *bolt.Tx) error {
		m, err := getMailbox(tx, j, mailbox)
		if err != nil {
			return err
		}
		prev = m.rec.RecentUID
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: claim recent: %w", err)
	}
	if prev >= upTo {
		return prev, nil
	}
	err = s.update("claim recent", func(tx *bolt.Tx, st *txState) error {
		m, err := getMailbox(tx, j, mailbox)
		if err != nil {
			return err
		}
		prev = m.rec.RecentUID
		if prev >= upTo {
			return nil
		}
		m.rec.RecentUID = upTo
		return m.save(tx)
	})
	if err != nil {
		return 0, err
	}
	return prev, nil
}

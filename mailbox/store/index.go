package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// indexRec is messageRec without the fields a mailbox listing for IMAP
// leaves out: the JSON decoder skips them without allocating.
type indexRec struct {
	Blob  string   `json:"b"`
	Size  int64    `json:"z"`
	Flags []string `json:"f,omitempty"`
	Date  int64    `json:"d,omitempty"`
}

// MessageIndex lists a mailbox's messages in UID order like Messages, but
// without Meta and SourceID, and with each distinct flag string shared by
// every message that has it: what an IMAP server keeps for every message of
// a selected mailbox. Read one message's Meta with MessageMeta.
func (s *Store) MessageIndex(j, mailbox string) ([]Message, error) {
	defer s.dropMapped()
	var out []Message
	err := s.viewMessages(j, mailbox, func(_ *bolt.Tx, _ *mbox, b *bolt.Bucket) error {
		n := 0 // sized exactly: the listing is kept for as long as the mailbox is selected
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		out = make([]Message, 0, n)
		flags := map[string]string{}
		return b.ForEach(func(k, _ []byte) error {
			var rec indexRec
			if err := getJSON(b, k, &rec); err != nil {
				return err
			}
			for i, f := range rec.Flags {
				if g, ok := flags[f]; ok {
					rec.Flags[i] = g
				} else {
					flags[f] = f
				}
			}
			out = append(out, Message{UID: beUint32(k), Blob: BlobRef{ID: rec.Blob, Size: rec.Size},
				Flags: rec.Flags, Date: unixDay(rec.Date)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: message index: %w", err)
	}
	return out, nil
}

// MessageMeta returns the Meta stored with one message (nil if it has
// none), or ErrNotFound.
func (s *Store) MessageMeta(j, mailbox string, uid uint32) ([]byte, error) {
	var meta []byte
	err := s.viewMessages(j, mailbox, func(tx *bolt.Tx, m *mbox, b *bolt.Bucket) error {
		if b.Get(u32(uid)) == nil {
			return ErrNotFound
		}
		meta = bytes.Clone(getMeta(tx, m.rec.ID, uid))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: message meta: %w", err)
	}
	return meta, nil
}

package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Mailboxes lists a journalist's mailboxes sorted by name (byte order),
// with their message counts.
func (s *Store) Mailboxes(j string) ([]Mailbox, error) { return s.mailboxes(j, true) }

// MailboxHeads is Mailboxes without Count and Recent (left zero): counting
// walks every message of every mailbox, which a plain LIST does not need.
func (s *Store) MailboxHeads(j string) ([]Mailbox, error) { return s.mailboxes(j, false) }

func (s *Store) mailboxes(j string, counted bool) ([]Mailbox, error) {
	var out []Mailbox
	err := s.view(func(tx *bolt.Tx) error {
		jb := tx.Bucket(bMailboxes).Bucket([]byte(j))
		if jb == nil {
			return fmt.Errorf("journalist: %w", ErrNotFound)
		}
		return jb.ForEach(func(k, _ []byte) error {
			mb, err := mailboxInfo(tx, j, string(k), counted)
			if err != nil {
				return err
			}
			out = append(out, mb)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: mailboxes: %w", err)
	}
	return out, nil
}

// Mailbox returns one mailbox with its message count.
func (s *Store) Mailbox(j, name string) (Mailbox, error) { return s.mailbox(j, name, true) }

// MailboxHead is Mailbox without Count and Recent (left zero), in constant
// time: what APPEND and COPY need (the name, UIDVALIDITY), where counting
// walks every message (a tenth of an APPEND's CPU at 10,000 messages).
func (s *Store) MailboxHead(j, name string) (Mailbox, error) { return s.mailbox(j, name, false) }

func (s *Store) mailbox(j, name string, counted bool) (Mailbox, error) {
	name, err := normMailbox(name)
	if err != nil {
		return Mailbox{}, fmt.Errorf("store: mailbox: %w", ErrNotFound)
	}
	var mb Mailbox
	err = s.view(func(tx *bolt.Tx) error {
		mb, err = mailboxInfo(tx, j, name, counted)
		return err
	})
	if err != nil {
		return Mailbox{}, fmt.Errorf("store: mailbox: %w", err)
	}
	return mb, nil
}

func mailboxInfo(tx *bolt.Tx, j, name string, counted bool) (Mailbox, error) {
	m, err := getMailbox(tx, j, name)
	if err != nil {
		return Mailbox{}, err
	}
	mb := Mailbox{Name: name, UIDValidity: m.rec.UIDValidity, UIDNext: m.rec.UIDNext,
		SpecialUse: m.rec.SpecialUse, Subscribed: m.rec.Subscribed, RecentUID: m.rec.RecentUID}
	if !counted {
		return mb, nil
	}
	b, err := m.msgs(tx)
	if err != nil {
		return Mailbox{}, err
	}
	n, recent := 0, 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
		if beUint32(k) > m.rec.RecentUID {
			recent++
		}
	}
	mb.Count, mb.Recent = n, recent
	return mb, nil
}

// CreateMailbox makes a mailbox, and any missing superiors of a hierarchical name
// ("a/b" makes "a" too). ErrExists if it exists.
func (s *Store) CreateMailbox(j, name string) error {
	name, err := normMailbox(name)
	if err != nil {
		return fmt.Errorf("store: create mailbox: %w", err)
	}
	return s.update("create mailbox", func(tx *bolt.Tx, st *txState) error {
		if err := createSuperiors(tx, j, name); err != nil {
			return err
		}
		return createMailboxTx(tx, j, name, "", false)
	})
}

func createSuperiors(tx *bolt.Tx, j, name string) error {
	jb := tx.Bucket(bMailboxes).Bucket([]byte(j))
	if jb == nil {
		return fmt.Errorf("journalist: %w", ErrNotFound)
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		sup, err := normMailbox(name[:i])
		if err != nil {
			return err
		}
		if jb.Get([]byte(sup)) == nil {
			if err := createMailboxTx(tx, j, sup, "", false); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteMailbox deletes a mailbox and its messages. INBOX cannot be deleted.
// Inferior mailboxes ("a/b" when deleting "a") stay.
func (s *Store) DeleteMailbox(j, name string) error {
	name, err := normMailbox(name)
	if err != nil {
		return fmt.Errorf("store: delete mailbox: %w", ErrNotFound)
	}
	if name == "INBOX" {
		return errors.New("store: delete mailbox: INBOX cannot be deleted")
	}
	return s.update("delete mailbox", func(tx *bolt.Tx, st *txState) error {
		m, err := getMailbox(tx, j, name)
		if err != nil {
			return err
		}
		return st.dropMailbox(tx, m, true)
	})
}

// RenameMailbox renames a mailbox and its inferiors, keeping UIDVALIDITY and UIDs.
// Renaming INBOX moves its messages to the new mailbox and leaves an empty INBOX
// with a new UIDVALIDITY (RFC 3501 6.3.5); INBOX's inferiors stay.
func (s *Store) RenameMailbox(j, from, to string) error {
	from, err := normMailbox(from)
	if err != nil {
		return fmt.Errorf("store: rename mailbox: %w", ErrNotFound)
	}
	to, err = normMailbox(to)
	if err != nil {
		return fmt.Errorf("store: rename mailbox: %w", err)
	}
	if from == to || strings.HasPrefix(to, from+"/") {
		return errors.New("store: rename mailbox: cannot rename a mailbox into itself")
	}
	return s.update("rename mailbox", func(tx *bolt.Tx, st *txState) error {
		m, err := getMailbox(tx, j, from)
		if err != nil {
			return err
		}
		jb := tx.Bucket(bMailboxes).Bucket([]byte(j))
		if jb.Get([]byte(to)) != nil {
			return ErrExists
		}
		if err := createSuperiors(tx, j, to); err != nil {
			return err
		}
		if from == "INBOX" {
			uids, err := mailboxUIDs(tx, m)
			if err != nil {
				return err
			}
			moved := m.rec
			moved.SpecialUse = ""
			if err := putJSON(jb, []byte(to), moved); err != nil {
				return err
			}
			fresh, err := newMailboxRec(tx)
			if err != nil {
				return err
			}
			fresh.Subscribed = m.rec.Subscribed
			if err := putJSON(jb, []byte("INBOX"), fresh); err != nil {
				return err
			}
			if len(uids) > 0 {
				st.emit(j, "INBOX", EventExpunge, uids...)
			}
			return nil
		}
		type pair struct{ old, new string }
		renames := []pair{{from, to}}
		c := jb.Cursor()
		prefix := from + "/"
		for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Next() {
			renames = append(renames, pair{string(k), to + string(k)[len(from):]})
		}
		for _, r := range renames {
			if jb.Get([]byte(r.new)) != nil {
				return ErrExists
			}
			v := append([]byte(nil), jb.Get([]byte(r.old))...)
			if err := jb.Delete([]byte(r.old)); err != nil {
				return err
			}
			if err := jb.Put([]byte(r.new), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetSubscribed sets a mailbox's subscription (IMAP SUBSCRIBE/UNSUBSCRIBE).
func (s *Store) SetSubscribed(j, name string, on bool) error {
	name, err := normMailbox(name)
	if err != nil {
		return fmt.Errorf("store: subscribe: %w", ErrNotFound)
	}
	return s.update("subscribe", func(tx *bolt.Tx, st *txState) error {
		m, err := getMailbox(tx, j, name)
		if err != nil {
			return err
		}
		m.rec.Subscribed = on
		return m.save(tx)
	})
}

// viewMessages runs fn in a read transaction on the messages bucket of
// journalist j's mailbox; ErrNotFound when there is no such mailbox.
func (s *Store) viewMessages(j, mailbox string, fn func(tx *bolt.Tx, m *mbox, b *bolt.Bucket) error) error {
	mailbox, err := normMailbox(mailbox)
	if err != nil {
		return ErrNotFound
	}
	return s.view(func(tx *bolt.Tx) error {
		m, err := getMailbox(tx, j, mailbox)
		if err != nil {
			return err
		}
		b, err := m.msgs(tx)
		if err != nil {
			return err
		}
		return fn(tx, m, b)
	})
}

// Messages lists a mailbox's messages in UID order.
func (s *Store) Messages(j, mailbox string) ([]Message, error) {
	defer s.dropMapped()
	var out []Message
	err := s.viewMessages(j, mailbox, func(tx *bolt.Tx, m *mbox, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			var rec messageRec
			if err := getJSON(b, k, &rec); err != nil {
				return err
			}
			uid := beUint32(k)
			out = append(out, rec.message(uid, bytes.Clone(getMeta(tx, m.rec.ID, uid))))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	return out, nil
}

func beUint32(k []byte) uint32 {
	if len(k) != 4 {
		return 0
	}
	return uint32(k[0])<<24 | uint32(k[1])<<16 | uint32(k[2])<<8 | uint32(k[3])
}

// SetFlags changes the flags of the given messages; UIDs that do not exist are
// skipped. Subscribers get EventFlags for the messages that changed.
func (s *Store) SetFlags(j, mailbox string, uids []uint32, op FlagOp, flags []string) error {
	mailbox, err := normMailbox(mailbox)
	if err != nil {
		return fmt.Errorf("store: set flags: %w", ErrNotFound)
	}
	flags = normFlags(flags)
	return s.update("set flags", func(tx *bolt.Tx, st *txState) error {
		m, err := getMailbox(tx, j, mailbox)
		if err != nil {
			return err
		}
		b, err := m.msgs(tx)
		if err != nil {
			return err
		}
		for _, uid := range uids {
			var rec messageRec
			if err := getJSON(b, u32(uid), &rec); err != nil {
				if errors.Is(err, ErrNotFound) {
					continue
				}
				return err
			}
			var next []string
			switch op {
			case FlagSet:
				next = flags
			case FlagAdd:
				next = normFlags(append(append([]string(nil), rec.Flags...), flags...))
			case FlagRemove:
				for _, f := range rec.Flags {
					if !hasFlag(flags, f) {
						next = append(next, f)
					}
				}
			default:
				return errors.New("unknown flag operation")
			}
			if equalFlags(next, rec.Flags) {
				continue
			}
			rec.Flags = next
			if err := putJSON(b, u32(uid), rec); err != nil {
				return err
			}
			st.emit(j, mailbox, EventFlags, uid)
		}
		return nil
	})
}

func equalFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Expunge removes the given messages (the IMAP layer picks those flagged \Deleted);
// UIDs that do not exist are skipped. Blobs left without references are
// overwritten and removed.
func (s *Store) Expunge(j, mailbox string, uids []uint32) error {
	mailbox, err := normMailbox(mailbox)
	if err != nil {
		return fmt.Errorf("store: expunge: %w", ErrNotFound)
	}
	return s.update("expunge", func(tx *bolt.Tx, st *txState) error {
		m, err := getMailbox(tx, j, mailbox)
		if err != nil {
			return err
		}
		for _, uid := range uids {
			if _, err := st.removeMessage(tx, m, uid, true); err != nil {
				return err
			}
		}
		return nil
	})
}

// Copy copies messages to another mailbox of the same journalist. dst[i] is the new
// UID of uids[i], or 0 where uids[i] does not exist (or repeats); new UIDs are given
// in the order of uids.
func (s *Store) Copy(j, from string, uids []uint32, to string) (dst []uint32, err error) {
	return s.copyMove("copy", j, from, uids, to, false)
}

// Move is Copy followed by removing the originals, in one transaction.
func (s *Store) Move(j, from string, uids []uint32, to string) (dst []uint32, err error) {
	return s.copyMove("move", j, from, uids, to, true)
}

func (s *Store) copyMove(op, j, from string, uids []uint32, to string, move bool) ([]uint32, error) {
	from, err := normMailbox(from)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	to, err = normMailbox(to)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	var dst []uint32
	err = s.update(op, func(tx *bolt.Tx, st *txState) error {
		dst = make([]uint32, len(uids))
		src, err := getMailbox(tx, j, from)
		if err != nil {
			return err
		}
		// A move within one mailbox gives the messages new UIDs (as
		// Dovecot does): one record, so both halves see the same UIDNEXT.
		target := src
		if to != from {
			if target, err = getMailbox(tx, j, to); err != nil {
				return err
			}
		}
		sb, err := src.msgs(tx)
		if err != nil {
			return err
		}
		seen := map[uint32]bool{}
		for i, uid := range uids {
			if seen[uid] {
				continue
			}
			seen[uid] = true
			var rec messageRec
			if err := getJSON(sb, u32(uid), &rec); err != nil {
				if errors.Is(err, ErrNotFound) {
					continue
				}
				return err
			}
			nuid, err := st.addMessage(tx, target, rec, bytes.Clone(getMeta(tx, src.rec.ID, uid)))
			if err != nil {
				return err
			}
			dst[i] = nuid
			if move {
				if _, err := st.removeMessage(tx, src, uid, true); err != nil {
					return err
				}
			}
		}
		return target.save(tx)
	})
	if err != nil {
		return nil, err
	}
	return dst, nil
}

// Append adds a message (IMAP APPEND) with a committed blob. Its date is today.
func (s *Store) Append(j, mailbox string, blob BlobRef, flags []string, meta []byte) (uint32, error) {
	mailbox, err := normMailbox(mailbox)
	if err != nil {
		return 0, fmt.Errorf("store: append: %w", ErrNotFound)
	}
	var uid uint32
	err = s.update("append", func(tx *bolt.Tx, st *txState) error {
		m, err := getMailbox(tx, j, mailbox)
		if err != nil {
			return err
		}
		uid, err = st.addMessage(tx, m, messageRec{Blob: blob.ID, Size: blob.Size,
			Flags: normFlags(flags), Date: dayUnix(s.opts.Now())}, meta)
		if err != nil {
			return err
		}
		return m.save(tx)
	})
	if err != nil {
		return 0, err
	}
	return uid, nil
}

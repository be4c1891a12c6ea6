package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// mailboxRec is a mailbox as stored under its journalist and name. ID names its
// message bucket in bMsgs, so a rename rewrites one small record, not the messages.
type mailboxRec struct {
	ID          uint64 `json:"i"`
	UIDValidity uint32 `json:"v"`
	UIDNext     uint32 `json:"n"`
	SpecialUse  string `json:"u,omitempty"`
	Subscribed  bool   `json:"s,omitempty"`
	// RecentUID is the highest UID an IMAP session has claimed as \Recent
	// (see ClaimRecent); the messages above it are recent to the next.
	RecentUID uint32 `json:"r,omitempty"`
}

// messageRec is a message as stored under its UID (4 bytes big-endian).
//
// Its Meta (the IMAP structure cache, about a kilobyte: most of a message's
// record) is not in it but in bMsgMeta, under the mailbox id and UID
// (metaKey). A pass over a mailbox's records (the IMAP index at SELECT,
// retention, STATUS) then reads small records only: with Meta inline every
// such pass paged the whole database into the relay's memory (bbolt maps the
// file; the pages it touches count in its RSS). Meta is read one message at
// a time, when a client asks for a structure the cache does not hold.
type messageRec struct {
	Blob   string   `json:"b"`
	Size   int64    `json:"z"`
	Flags  []string `json:"f,omitempty"`
	Date   int64    `json:"d,omitempty"`
	Source []byte   `json:"s,omitempty"`
	// OldMeta is where records written before migration 0003 kept Meta;
	// the migration moves it out and nothing writes it any more.
	OldMeta []byte `json:"m,omitempty"`
}

func (r messageRec) message(uid uint32, meta []byte) Message {
	return Message{
		UID:      uid,
		Blob:     BlobRef{ID: r.Blob, Size: r.Size},
		Flags:    r.Flags,
		Date:     unixDay(r.Date),
		SourceID: r.Source,
		Meta:     meta,
	}
}

// metaKey is the key of a message's Meta in bMsgMeta (the source index's
// key too).
func metaKey(mailboxID uint64, uid uint32) []byte { return srcMsgKey(mailboxID, uid) }

// getMeta returns a message's Meta as stored (valid for the transaction),
// or nil.
func getMeta(tx *bolt.Tx, mailboxID uint64, uid uint32) []byte {
	return tx.Bucket(bMsgMeta).Get(metaKey(mailboxID, uid))
}

// migrateMetaOut is migration 0003: every message record's inline Meta
// moves to bMsgMeta and the record is written again without it, in the
// migration's one transaction, so an interrupted upgrade leaves the old
// layout whole and the next Open runs it again.
func migrateMetaOut(tx *bolt.Tx) error {
	metas, err := tx.CreateBucketIfNotExists(bMsgMeta)
	if err != nil {
		return err
	}
	msgs := tx.Bucket(bMsgs)
	if msgs == nil {
		return errNoBucket
	}
	var ids [][]byte
	if err := msgs.ForEachBucket(func(k []byte) error {
		ids = append(ids, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		if len(id) != 8 {
			return errors.New("corrupt mailbox id")
		}
		mid := binary.BigEndian.Uint64(id)
		b := msgs.Bucket(id)
		type moved struct {
			uid uint32
			rec messageRec
		}
		var todo []moved
		if err := b.ForEach(func(k, _ []byte) error {
			var rec messageRec
			if err := getJSON(b, k, &rec); err != nil {
				return err
			}
			if rec.OldMeta != nil {
				todo = append(todo, moved{beUint32(k), rec})
			}
			return nil
		}); err != nil {
			return err
		}
		for _, m := range todo {
			if err := metas.Put(metaKey(mid, m.uid), m.rec.OldMeta); err != nil {
				return err
			}
			m.rec.OldMeta = nil
			if err := putJSON(b, u32(m.uid), m.rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// mbox is a mailbox loaded in a write transaction.
type mbox struct {
	j, name string
	rec     mailboxRec
}

func (m *mbox) save(tx *bolt.Tx) error {
	jb := tx.Bucket(bMailboxes).Bucket([]byte(m.j))
	if jb == nil {
		return ErrNotFound
	}
	return putJSON(jb, []byte(m.name), m.rec)
}

func (m *mbox) msgs(tx *bolt.Tx) (*bolt.Bucket, error) {
	b := tx.Bucket(bMsgs).Bucket(u64(m.rec.ID))
	if b == nil {
		return nil, errNoBucket
	}
	return b, nil
}

// getMailbox loads a mailbox; name must already be normalised.
func getMailbox(tx *bolt.Tx, j, name string) (*mbox, error) {
	jb := tx.Bucket(bMailboxes).Bucket([]byte(j))
	if jb == nil {
		return nil, fmt.Errorf("journalist: %w", ErrNotFound)
	}
	m := &mbox{j: j, name: name}
	if err := getJSON(jb, []byte(name), &m.rec); err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	return m, nil
}

// createMailboxTx makes an empty mailbox with a fresh random UIDVALIDITY.
func createMailboxTx(tx *bolt.Tx, j, name, specialUse string, subscribed bool) error {
	jb := tx.Bucket(bMailboxes).Bucket([]byte(j))
	if jb == nil {
		return fmt.Errorf("journalist: %w", ErrNotFound)
	}
	if jb.Get([]byte(name)) != nil {
		return ErrExists
	}
	rec, err := newMailboxRec(tx)
	if err != nil {
		return err
	}
	rec.SpecialUse, rec.Subscribed = specialUse, subscribed
	return putJSON(jb, []byte(name), rec)
}

func newMailboxRec(tx *bolt.Tx) (mailboxRec, error) {
	all := tx.Bucket(bMsgs)
	id, err := all.NextSequence()
	if err != nil {
		return mailboxRec{}, err
	}
	if _, err := all.CreateBucket(u64(id)); err != nil {
		return mailboxRec{}, err
	}
	uv, err := randomUIDValidity()
	if err != nil {
		return mailboxRec{}, err
	}
	return mailboxRec{ID: id, UIDValidity: uv, UIDNext: 1}, nil
}

// randomUIDValidity is random rather than a counter or a clock so a mailbox deleted
// and made again under the same name gets a different one (RFC 3501 2.3.1.1), and so
// it reveals nothing about when the mailbox was made.
func randomUIDValidity() (uint32, error) {
	var b [4]byte
	for {
		if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
			return 0, err
		}
		if v := binary.BigEndian.Uint32(b[:]); v != 0 {
			return v, nil
		}
	}
}

// addMessage stores rec under the mailbox's next UID with its meta (none
// when empty), takes a blob reference and indexes the source. The caller
// saves m afterwards.
func (st *txState) addMessage(tx *bolt.Tx, m *mbox, rec messageRec, meta []byte) (uint32, error) {
	uid := m.rec.UIDNext
	if uid == 0 || uid == math.MaxUint32 {
		return 0, errors.New("mailbox UIDs exhausted")
	}
	b, err := m.msgs(tx)
	if err != nil {
		return 0, err
	}
	rec.OldMeta = nil
	if err := putJSON(b, u32(uid), rec); err != nil {
		return 0, err
	}
	if len(meta) > 0 {
		if err := tx.Bucket(bMsgMeta).Put(metaKey(m.rec.ID, uid), meta); err != nil {
			return 0, err
		}
	}
	m.rec.UIDNext++
	if err := st.ref(tx, rec.Blob, rec.Size, 1); err != nil {
		return 0, err
	}
	if rec.Source != nil {
		sb, err := tx.Bucket(bSrcMsgs).CreateBucketIfNotExists(rec.Source)
		if err != nil {
			return 0, err
		}
		if err := sb.Put(srcMsgKey(m.rec.ID, uid), []byte(rec.Blob)); err != nil {
			return 0, err
		}
	}
	st.emit(m.j, m.name, EventNew, uid)
	return uid, nil
}

func srcMsgKey(mailboxID uint64, uid uint32) []byte {
	return append(u64(mailboxID), u32(uid)...)
}

// removeMessage deletes one message, its blob reference and its source index entry.
// A missing UID is not an error (found is false).
func (st *txState) removeMessage(tx *bolt.Tx, m *mbox, uid uint32, emit bool) (found bool, err error) {
	b, err := m.msgs(tx)
	if err != nil {
		return false, err
	}
	var rec messageRec
	if err := getJSON(b, u32(uid), &rec); err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	if err := b.Delete(u32(uid)); err != nil {
		return false, err
	}
	if err := tx.Bucket(bMsgMeta).Delete(metaKey(m.rec.ID, uid)); err != nil {
		return false, err
	}
	if err := st.unref(tx, rec.Blob); err != nil {
		return false, err
	}
	if rec.Source != nil {
		if sb := tx.Bucket(bSrcMsgs).Bucket(rec.Source); sb != nil {
			if err := sb.Delete(srcMsgKey(m.rec.ID, uid)); err != nil {
				return false, err
			}
		}
	}
	if emit {
		st.emit(m.j, m.name, EventExpunge, uid)
	}
	return true, nil
}

// dropMailbox removes every message of m, its message bucket and its record.
func (st *txState) dropMailbox(tx *bolt.Tx, m *mbox, emit bool) error {
	uids, err := mailboxUIDs(tx, m)
	if err != nil {
		return err
	}
	for _, uid := range uids {
		if _, err := st.removeMessage(tx, m, uid, emit); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bMsgs).DeleteBucket(u64(m.rec.ID)); err != nil {
		return err
	}
	return tx.Bucket(bMailboxes).Bucket([]byte(m.j)).Delete([]byte(m.name))
}

func mailboxUIDs(tx *bolt.Tx, m *mbox) ([]uint32, error) {
	b, err := m.msgs(tx)
	if err != nil {
		return nil, err
	}
	var uids []uint32
	err = b.ForEach(func(k, _ []byte) error {
		if len(k) != 4 {
			return errors.New("corrupt message key")
		}
		uids = append(uids, binary.BigEndian.Uint32(k))
		return nil
	})
	return uids, err
}

// normMailbox checks a mailbox name and folds any case of "INBOX" to "INBOX". Names
// are stored as the IMAP layer gives them (it handles modified UTF-7); "/" is the
// hierarchy separator.
func normMailbox(name string) (string, error) {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", nil
	}
	if name == "" || len(name) > 512 || !utf8.ValidString(name) ||
		strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") ||
		strings.ContainsAny(name, "*%") {
		return "", errors.New("invalid mailbox name")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("invalid mailbox name")
		}
	}
	return name, nil
}

// systemFlags are folded to their canonical spelling; IMAP flags are
// case-insensitive.
var systemFlags = []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`}

// normFlags folds case of system flags, drops \Recent (a session property, never
// stored) and duplicates, and sorts.
func normFlags(flags []string) []string {
	var out []string
	for _, f := range flags {
		if f == "" || strings.EqualFold(f, `\Recent`) {
			continue
		}
		for _, sf := range systemFlags {
			if strings.EqualFold(f, sf) {
				f = sf
			}
		}
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, f) }) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

func hasFlag(flags []string, f string) bool {
	return slices.ContainsFunc(flags, func(o string) bool { return strings.EqualFold(o, f) })
}

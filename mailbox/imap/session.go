package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postern/mailbox/imap/structure"
	"postern/mailbox/kdf"
	"postern/mailbox/netlimit"
	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
)

const delim = '/'

// session is one connection. Its methods run on the connection's goroutine,
// except Idle, which runs beside a goroutine blocked reading DONE.
type session struct {
	s       *Server
	conn    *imapserver.Conn
	netConn net.Conn

	mu   sync.Mutex // guards name (read by Server.Logout)
	name string     // the journalist, once logged in

	sel *selection // nil unless a mailbox is selected
	// selMu guards writes of sel and Idle's read of it: the library runs
	// Idle on its own goroutine and does not wait for it when a client
	// ends an IDLE with something other than DONE.
	selMu sync.Mutex

	// sealRaw and sealKey are the journalist's public key as last read and
	// parsed for sealing APPENDs: parsing it again for every message was a
	// twentieth of an APPEND's CPU. Used by the connection's goroutine only.
	sealRaw []byte
	sealKey *openpgp.Entity
}

var (
	_ imapserver.Session            = (*session)(nil)
	_ imapserver.SessionNamespace   = (*session)(nil)
	_ imapserver.SessionMove        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

func (sess *session) journalist() string {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.name
}

// Errors sent to clients: short and generic; details are counted in the
// tally (Options.Tally) with the last error's text, never logged per command.
var (
	errBusy      = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Server busy, try again later"}
	errNoMailbox = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	errTryCreate = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	errExists    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	errCannot    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Operation not permitted on this mailbox"}
	errTooBig    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	errReadOnly  = &imap.Error{Type: imap.StatusResponseTypeNo, Code: "READ-ONLY", Text: "Mailbox is read-only"}
	errInternal  = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal error"}
)

// storeErr maps a store error to a client error, counting the unexpected.
func (sess *session) storeErr(op string, err error, notFound error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound
	case errors.Is(err, store.ErrExists):
		return errExists
	}
	sess.s.o.Tally.Add(KindFailed, fmt.Errorf("%s: %w", op, err))
	return errInternal
}

// fail turns an unexpected error into errInternal, counting it. The
// library answers a plain error with "Internal server error", a text that
// guardConn reserves for the library's own argument errors (the client's
// fault) and rewrites into a BAD; the server's own failures must not be
// mistaken for those.
func (sess *session) fail(op string, errp *error) {
	var ierr *imap.Error
	if *errp == nil || errors.As(*errp, &ierr) {
		return
	}
	sess.s.o.Tally.Add(KindFailed, fmt.Errorf("%s: %w", op, *errp))
	*errp = errInternal
}

func (sess *session) Close() error {
	if sess.sel != nil {
		sess.unselect()
	}
	sess.s.dropSession(sess)
	return nil
}

func (sess *session) Login(username, password string) error {
	// The login deadline and eviction spare a login under way (conns.go).
	done := netlimit.Login(sess.netConn)
	defer done("") // a no-op once done(name) ran
	ctx, cancel := sess.s.loginContext()
	defer cancel()
	j, err := sess.s.auth.Login(ctx, username, password)
	if err != nil {
		if errors.Is(err, kdf.ErrBusy) {
			return errBusy
		}
		// Counted, not logged (and never with the name: a mistyped
		// passphrase pasted into the name field would end up there).
		sess.s.o.Tally.Add(KindLoginFailed, nil)
		return imapserver.ErrAuthFailed
	}
	sess.mu.Lock()
	sess.name = j.Name
	sess.mu.Unlock()
	// A removal or a reset (passphrase, onion key) between the check and now
	// must not leave a live session: Logout runs on both, and this re-check
	// against the record the passphrase was verified with covers the window
	// before the name was set.
	if cur, err := sess.s.o.Store.Journalist(j.Name); err != nil ||
		cur.PasswordHash != j.PasswordHash || cur.OnionAuthPublic != j.OnionAuthPublic {
		sess.mu.Lock()
		sess.name = ""
		sess.mu.Unlock()
		return imapserver.ErrAuthFailed
	}
	if !done(j.Name) {
		sess.mu.Lock()
		sess.name = ""
		sess.mu.Unlock()
		return errTooManyConns
	}
	if g, ok := sess.netConn.(*guardConn); ok {
		g.authed.Store(true)
	}
	return nil
}

// AppendLimit is 0 before login so that an unauthenticated client cannot
// make the library read and discard a 100 MiB literal.
func (sess *session) AppendLimit() uint32 {
	if sess.journalist() == "" {
		return 0
	}
	return uint32(sess.s.o.MaxAppendBytes)
}

func (sess *session) Namespace() (_ *imap.NamespaceData, err error) {
	defer sess.fail("namespace", &err)
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

func (sess *session) Create(name string, _ *imap.CreateOptions) (err error) {
	defer sess.fail("create", &err)
	name = strings.TrimRight(name, string(delim))
	if strings.EqualFold(name, "INBOX") {
		return errExists
	}
	if err := sess.s.o.Store.CreateMailbox(sess.journalist(), name); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errExists
		}
		if errors.Is(err, store.ErrNotFound) {
			return errInternal
		}
		// The store refuses names it cannot hold ("*", "%", control
		// characters, "//"): a client mistake, not ours.
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name"}
	}
	return nil
}

func (sess *session) Delete(name string) (err error) {
	defer sess.fail("delete", &err)
	if strings.EqualFold(name, "INBOX") {
		return errCannot
	}
	err = sess.s.o.Store.DeleteMailbox(sess.journalist(), name)
	if err != nil {
		return sess.storeErr("delete", err, errNoMailbox)
	}
	return nil
}

func (sess *session) Rename(from, to string, _ *imap.RenameOptions) (err error) {
	defer sess.fail("rename", &err)
	to = strings.TrimRight(to, string(delim))
	err = sess.s.o.Store.RenameMailbox(sess.journalist(), from, to)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrExists):
		return sess.storeErr("rename", err, errNoMailbox)
	default:
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Cannot rename to that name"}
	}
}

func (sess *session) Subscribe(name string) error   { return sess.subscribe(name, true) }
func (sess *session) Unsubscribe(name string) error { return sess.subscribe(name, false) }

func (sess *session) subscribe(name string, on bool) error {
	if err := sess.s.o.Store.SetSubscribed(sess.journalist(), name, on); err != nil {
		return sess.storeErr("subscribe", err, errNoMailbox)
	}
	return nil
}

func (sess *session) List(w *imapserver.ListWriter, ref string, patterns []string, o *imap.ListOptions) (err error) {
	defer sess.fail("list", &err)
	if len(patterns) == 0 {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	// Counts only for LIST-STATUS: they walk every message.
	mailboxes := sess.s.o.Store.MailboxHeads
	if o.ReturnStatus != nil {
		mailboxes = sess.s.o.Store.Mailboxes
	}
	mbs, err := mailboxes(sess.journalist())
	if err != nil {
		return sess.storeErr("list", err, errInternal)
	}
	match := func(name string) bool {
		for _, p := range patterns {
			if matchList(name, ref, p) {
				return true
			}
		}
		return false
	}
	var parents map[string]bool
	if o.SelectSubscribed && !o.SelectRecursiveMatch {
		parents = lsubParents(mbs, match)
		known := make(map[string]bool, len(mbs))
		for _, mb := range mbs {
			known[mb.Name] = true
		}
		for name := range parents {
			if !known[name] {
				mbs = append(mbs, store.Mailbox{Name: name})
			}
		}
	}
	sort.Slice(mbs, func(i, j int) bool { return mbs[i].Name < mbs[j].Name })
	for _, mb := range mbs {
		if !match(mb.Name) {
			continue
		}
		if parents[mb.Name] {
			if err := w.WriteList(&imap.ListData{Mailbox: mb.Name, Delim: delim, Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}}); err != nil {
				return err
			}
			continue
		}
		if o.SelectSubscribed && !mb.Subscribed || o.SelectSpecialUse && mb.SpecialUse == "" {
			continue
		}
		data := imap.ListData{Mailbox: mb.Name, Delim: delim}
		if hasChildren(mb.Name, mbs) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if mb.Subscribed && (o.SelectSubscribed || o.ReturnSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		// Special-use attributes are sent on every LIST (RFC 6154 allows
		// it): clients that do not ask still find Trash and Sent.
		if mb.SpecialUse != "" {
			data.Attrs = append(data.Attrs, imap.MailboxAttr(mb.SpecialUse))
		}
		if o.ReturnStatus != nil {
			data.Status, err = sess.status(mb, o.ReturnStatus)
			if err != nil {
				return err
			}
		}
		if err := w.WriteList(&data); err != nil {
			return err
		}
	}
	return nil
}

// lsubParents are the names LSUB must list as \Noselect (RFC 3501 6.3.9):
// those that match the pattern and are not subscribed themselves, but are
// superiors of a subscribed mailbox the pattern does not reach ("a" for
// LSUB "" "%" when only "a/b" is subscribed), whether or not they exist.
func lsubParents(mbs []store.Mailbox, match func(string) bool) map[string]bool {
	subscribed := make(map[string]bool, len(mbs))
	for _, mb := range mbs {
		if mb.Subscribed {
			subscribed[mb.Name] = true
		}
	}
	out := map[string]bool{}
	for name := range subscribed {
		if match(name) {
			continue // listed itself
		}
		for i := strings.LastIndexByte(name, delim); i > 0; i = strings.LastIndexByte(name[:i], delim) {
			if p := name[:i]; !subscribed[p] && match(p) {
				out[p] = true
			}
		}
	}
	return out
}

func hasChildren(name string, mbs []store.Mailbox) bool {
	prefix := name + string(delim)
	for _, mb := range mbs {
		if strings.HasPrefix(mb.Name, prefix) {
			return true
		}
	}
	return false
}

func (sess *session) Status(name string, o *imap.StatusOptions) (_ *imap.StatusData, err error) {
	defer sess.fail("status", &err)
	mb, err := sess.s.o.Store.Mailbox(sess.journalist(), name)
	if err != nil {
		return nil, sess.storeErr("status", err, errNoMailbox)
	}
	return sess.status(mb, o)
}

func (sess *session) status(mb store.Mailbox, o *imap.StatusOptions) (*imap.StatusData, error) {
	data := &imap.StatusData{Mailbox: mb.Name}
	if o.NumMessages {
		n := uint32(mb.Count)
		data.NumMessages = &n
	}
	if o.UIDNext {
		data.UIDNext = imap.UID(mb.UIDNext)
	}
	if o.UIDValidity {
		data.UIDValidity = mb.UIDValidity
	}
	if o.NumRecent {
		n := uint32(mb.Recent) // not yet claimed by a session (recent.go)
		data.NumRecent = &n
	}
	if o.NumUnseen || o.NumDeleted || o.Size {
		msgs, err := sess.s.o.Store.Messages(sess.journalist(), mb.Name)
		if err != nil {
			return nil, sess.storeErr("status", err, errNoMailbox)
		}
		var unseen, deleted uint32
		var size int64
		for _, m := range msgs {
			f := toFlags(m.Flags)
			if !hasFlag(f, imap.FlagSeen) {
				unseen++
			}
			if hasFlag(f, imap.FlagDeleted) {
				deleted++
			}
			size += m.Blob.Size
		}
		if o.NumUnseen {
			data.NumUnseen = &unseen
		}
		if o.NumDeleted {
			data.NumDeleted = &deleted
		}
		if o.Size {
			data.Size = &size
		}
	}
	return data, nil
}

// Append streams the literal into a new blob (sealed unless it is already
// ciphertext), walks its structure from the same stream, and adds it to the
// mailbox. The literal is never held whole.
func (sess *session) Append(name string, r imap.LiteralReader, o *imap.AppendOptions) (_ *imap.AppendData, err error) {
	defer sess.fail("append", &err)
	max := sess.s.o.MaxAppendBytes
	if r.Size() > max {
		return nil, errTooBig
	}
	j := sess.journalist()
	st := sess.s.o.Store
	mb, err := st.MailboxHead(j, name)
	if err != nil {
		return nil, sess.storeErr("append", err, errTryCreate)
	}
	key, err := sess.journalistKey(j)
	if err != nil {
		return nil, err
	}
	bw, err := st.NewBlob()
	if err != nil {
		return nil, sess.storeErr("append", err, errInternal)
	}
	cr := &countReader{r: r}
	// The structure is walked from the stream as it goes to the file, not
	// read back from the file afterwards.
	tap := structure.NewTap()
	if err := sess.writeAppended(io.MultiWriter(bw, tap), cr, r.Size(), key); err != nil || cr.n != r.Size() {
		tap.Abort()
		bw.Abort()
		var ierr *imap.Error
		if errors.As(err, &ierr) {
			return nil, ierr
		}
		if err != nil {
			sess.s.log.Warn("imap: append failed", "err", err)
		}
		// A short or failed read is a broken connection; the library
		// reports it.
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Message not stored"}
	}
	stc, err := tap.Finish()
	if err != nil {
		bw.Abort()
		return nil, sess.storeErr("append", err, errInternal)
	}
	ref, err := bw.Commit()
	if err != nil {
		return nil, sess.storeErr("append", err, errInternal)
	}
	meta, err := stc.Encode()
	if err != nil {
		st.DiscardBlob(ref.ID)
		return nil, sess.storeErr("append", err, errInternal)
	}
	sess.s.cache.put(ref.ID, stc)
	uid, err := st.Append(j, mb.Name, ref, fromFlags(o.Flags), meta)
	if err != nil {
		st.DiscardBlob(ref.ID)
		return nil, sess.storeErr("append", err, errTryCreate)
	}
	sess.s.refresh(boxKey{j, mb.Name}, nil)
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: mb.UIDValidity}, nil
}

// writeAppended copies an already encrypted message (size bytes) as it
// is, and seals any other (see seal.go).
func (sess *session) writeAppended(w io.Writer, r io.Reader, size int64, key *openpgp.Entity) error {
	br, ok := sess.s.appendBufs.Get().(*bufio.Reader)
	if ok {
		br.Reset(r)
	} else {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	defer func() {
		br.Reset(nil)
		sess.s.appendBufs.Put(br)
	}()
	raw, err := readRawHeader(br)
	if errors.Is(err, errHeaderTooBig) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Header too large"}
	}
	if err != nil {
		return err
	}
	h := parseHeader(raw)
	if isEncrypted(h, br, key) {
		// Stored as it is, but for the outer header: Thunderbird's Sent copy
		// carries the exact time, its User-Agent and often the subject.
		// Its ciphertext is not ours to pad: lines of spaces after its end
		// bring it to a Padmé length.
		pw := &pgpmime.PadWriter{W: w}
		if err := writeMinimalHeader(pw, h); err != nil {
			return err
		}
		if err := copyCiphertext(pw, br, h); err != nil { // nothing but the ciphertext (sealtail.go)
			return err
		}
		return pw.Pad()
	}
	if key == nil {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
			Text: "Only encrypted messages can be stored (no usable key to seal this one)"}
	}
	return seal(w, key, h, raw, br, size, &sess.s.sealBufs)
}

// journalistKey is the journalist's public key for sealing, or nil when it
// is unusable (expired: only encrypted messages are then accepted).
func (sess *session) journalistKey(name string) (*openpgp.Entity, error) {
	j, err := sess.s.o.Store.Journalist(name)
	if err != nil {
		return nil, sess.storeErr("append", err, errInternal)
	}
	if len(j.PublicKey) == 0 {
		return nil, nil
	}
	if sess.sealKey != nil && bytes.Equal(sess.sealRaw, j.PublicKey) {
		return sess.sealKey, nil // the same key: `journalist set-key` changes the bytes
	}
	key, _, err := pgp.ParsePublicKey(j.PublicKey)
	if err != nil {
		sess.s.log.Warn("imap: journalist key unusable for sealing appended mail", "err", err)
		return nil, nil
	}
	sess.sealRaw, sess.sealKey = j.PublicKey, key
	return key, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

package imapd

import (
	"errors"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postern/mailbox/store"
)

// selection is the session's selected mailbox.
type selection struct {
	box       *box
	view      *view
	readOnly  bool
	searchRes imap.UIDSet
}

// systemFlags lead FLAGS and PERMANENTFLAGS; keywords follow (keywords.go).
var systemFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

func (sess *session) Select(name string, o *imap.SelectOptions) (_ *imap.SelectData, err error) {
	defer sess.fail("select", &err)
	if sess.sel != nil {
		sess.unselect()
	}
	j := sess.journalist()
	mb, err := sess.s.o.Store.Mailbox(j, name)
	if err != nil {
		return nil, sess.storeErr("select", err, errNoMailbox)
	}
	b := sess.s.openBox(boxKey{j, mb.Name})
	// syncMu from the read to the registration: a message that arrives
	// meanwhile is either in this SELECT's answer or queued for it.
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	if err := b.resyncLocked(sess.s.o.Store, nil); err != nil {
		sess.s.closeBox(b)
		return nil, sess.storeErr("select", err, errNoMailbox)
	}
	if !b.isLoaded() {
		sess.s.closeBox(b)
		return nil, errNoMailbox
	}
	v, recent, err := b.attach(sess.s.o.Store, o.ReadOnly)
	if err != nil {
		sess.s.closeBox(b)
		return nil, sess.storeErr("select", err, errNoMailbox)
	}
	sess.setSel(&selection{box: b, view: v, readOnly: o.ReadOnly})
	// syncMu still held: b.msgs is what the view starts from.
	b.mu.Lock()
	defer b.mu.Unlock()
	flags, permanent := b.flagsLocked()
	data := &imap.SelectData{
		Flags:          flags,
		PermanentFlags: permanent,
		NumMessages:    uint32(len(b.msgs)),
		NumRecent:      recent,
		UIDNext:        imap.UID(mb.UIDNext),
		UIDValidity:    mb.UIDValidity,
	}
	if n := len(b.msgs); n > 0 && uint32(data.UIDNext) <= b.msgs[n-1].UID {
		data.UIDNext = imap.UID(b.msgs[n-1].UID + 1)
	}
	if o.ReadOnly {
		data.PermanentFlags = nil
	}
	for i, m := range b.msgs {
		if !hasFlag(toFlags(m.Flags), imap.FlagSeen) {
			data.FirstUnseenSeqNum = uint32(i) + 1
			break
		}
	}
	return data, nil
}

func (sess *session) Unselect() error {
	sess.unselect()
	return nil
}

func (sess *session) unselect() {
	if sess.sel == nil {
		return
	}
	sess.sel.box.closeView(sess.sel.view)
	sess.s.closeBox(sess.sel.box)
	sess.setSel(nil)
}

func (sess *session) setSel(sel *selection) {
	sess.selMu.Lock()
	sess.sel = sel
	sess.selMu.Unlock()
}

func (sess *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if sess.sel == nil {
		return nil
	}
	return sess.sel.view.poll(w, allowExpunge)
}

func (sess *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) (err error) {
	defer sess.fail("idle", &err)
	sess.selMu.Lock()
	sel := sess.sel
	sess.selMu.Unlock()
	if sel == nil {
		<-stop
		return nil
	}
	return sel.view.idle(w, stop)
}

func (sess *session) key() boxKey { return sess.sel.box.key }

// messages returns the records of entries from the selected box, in the
// same order; a message expunged meanwhile is dropped, and counted in gone
// if the client knew of it.
func (sess *session) messages(es []entry) (_ []entry, _ []store.Message, gone int) {
	if len(es) == 0 {
		return nil, nil, 0
	}
	outE, outM, gone := sess.sel.box.lookup(es)
	sess.withRecent(outM)
	return outE, outM, gone
}

// errExpungeIssued answers a command that named messages another session
// expunged before this client was told (RFC 5530; Dovecot's words): a
// FETCH by sequence number after answering what exists, a COPY or MOVE
// before copying anything.
var errExpungeIssued = &imap.Error{Type: imap.StatusResponseTypeNo, Code: "EXPUNGEISSUED", Text: "Some of the requested messages no longer exist"}

func cmpUID(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func uidsOf(es []entry) []uint32 {
	out := make([]uint32, len(es))
	for i, e := range es {
		out[i] = e.uid
	}
	return out
}

func (sess *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) (err error) {
	defer sess.fail("store", &err)
	if sess.sel.readOnly {
		return errReadOnly
	}
	// Messages expunged meanwhile are left out, as Dovecot does.
	es, _, _ := sess.messages(sess.sel.view.resolve(numSet, sess.sel.searchRes))
	if len(es) == 0 {
		return nil
	}
	var op store.FlagOp
	switch flags.Op {
	case imap.StoreFlagsSet:
		op = store.FlagSet
	case imap.StoreFlagsAdd:
		op = store.FlagAdd
	case imap.StoreFlagsDel:
		op = store.FlagRemove
	default:
		return errInternal
	}
	k := sess.key()
	// Other sessions hear of it; this one answers below (or not, .SILENT).
	err = sess.s.change(sess.sel.box, sess.sel.view, func() error {
		return sess.s.o.Store.SetFlags(k.journalist, k.mailbox, uidsOf(es), op, fromFlags(flags.Flags))
	})
	if err != nil {
		return sess.storeErr("store", err, errNoMailbox)
	}
	if flags.Silent {
		return nil
	}
	return sess.fetch(w, es, &imap.FetchOptions{Flags: true, UID: true})
}

func (sess *session) Copy(numSet imap.NumSet, dest string) (_ *imap.CopyData, err error) {
	defer sess.fail("copy", &err)
	data, _, err := sess.copyMove(numSet, dest, false)
	return data, err
}

func (sess *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) (err error) {
	defer sess.fail("move", &err)
	if sess.sel.readOnly {
		return errReadOnly
	}
	data, _, err := sess.copyMove(numSet, dest, true)
	if err != nil || data == nil {
		return err
	}
	// The EXPUNGEs follow in the poll after the command, queued by refresh.
	return w.WriteCopyData(data)
}

func (sess *session) copyMove(numSet imap.NumSet, dest string, move bool) (*imap.CopyData, []uint32, error) {
	k := sess.key()
	st := sess.s.o.Store
	mb, err := st.MailboxHead(k.journalist, dest)
	if err != nil {
		return nil, nil, sess.storeErr("copy", err, errTryCreate)
	}
	es, _, gone := sess.messages(sess.sel.view.resolve(numSet, sess.sel.searchRes))
	if gone > 0 || sess.sel.view.expungedIn(numSet, sess.sel.searchRes) {
		// Nothing is copied: a failed COPY leaves the destination as it
		// was. By UID too, as Dovecot answers (RFC 9051 would let a UID
		// that no longer exists be ignored).
		return nil, nil, errExpungeIssued
	}
	if len(es) == 0 {
		// "OK" without COPYUID, whose sets cannot be empty (Dovecot
		// answers the same).
		return nil, nil, nil
	}
	uids := uidsOf(es)
	var dst []uint32
	if move {
		dst, err = st.Move(k.journalist, k.mailbox, uids, mb.Name)
	} else {
		dst, err = st.Copy(k.journalist, k.mailbox, uids, mb.Name)
	}
	if err != nil {
		return nil, nil, sess.storeErr("copy", err, errTryCreate)
	}
	var src, out imap.UIDSet
	for i, d := range dst {
		if d != 0 {
			src.AddNum(imap.UID(uids[i]))
			out.AddNum(imap.UID(d))
		}
	}
	if move {
		sess.s.refresh(k, nil)
	}
	sess.s.refresh(boxKey{k.journalist, mb.Name}, nil)
	if len(src) == 0 {
		return nil, dst, nil // all expunged between the lookup and the copy
	}
	return &imap.CopyData{UIDValidity: mb.UIDValidity, SourceUIDs: src, DestUIDs: out}, dst, nil
}

// Expunge removes the messages flagged \Deleted (within uids for UID
// EXPUNGE). The EXPUNGE responses are queued by refresh and written by the
// poll that follows the command.
func (sess *session) Expunge(_ *imapserver.ExpungeWriter, uids *imap.UIDSet) (err error) {
	defer sess.fail("expunge", &err)
	if sess.sel.readOnly {
		return nil // CLOSE after EXAMINE expunges nothing
	}
	var es []entry
	if uids != nil {
		es = sess.sel.view.resolve(*uids, nil)
	} else {
		es = sess.sel.view.all()
	}
	es, msgs, _ := sess.messages(es)
	var del []uint32
	for i, m := range msgs {
		if hasFlag(toFlags(m.Flags), imap.FlagDeleted) {
			del = append(del, es[i].uid)
		}
	}
	if len(del) == 0 {
		return nil
	}
	k := sess.key()
	if err := sess.s.o.Store.Expunge(k.journalist, k.mailbox, del); err != nil {
		return sess.storeErr("expunge", err, errNoMailbox)
	}
	sess.s.refresh(k, nil)
	return nil
}

// markSeen sets \Seen on the messages a non-PEEK body fetch returns, and
// reports the new flags so the FETCH response can include them.
func (sess *session) markSeen(es []entry, msgs []store.Message) error {
	var uids []uint32
	for i, m := range msgs {
		if !hasFlag(toFlags(m.Flags), imap.FlagSeen) {
			uids = append(uids, es[i].uid)
			msgs[i].Flags = append(slices.Clone(m.Flags), string(imap.FlagSeen))
		}
	}
	if len(uids) == 0 {
		return nil
	}
	k := sess.key()
	err := sess.s.change(sess.sel.box, sess.sel.view, func() error {
		return sess.s.o.Store.SetFlags(k.journalist, k.mailbox, uids, store.FlagAdd, []string{string(imap.FlagSeen)})
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNoMailbox
		}
		return sess.storeErr("seen", err, errNoMailbox)
	}
	return nil
}

package imapd

import (
	"fmt"
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postern/mailbox/store"
)

// \Recent (RFC 3501 2.3.2): a message is recent to exactly one session, the
// first to select its mailbox read-write after it arrived, or the one that
// had it selected when it arrived. The store keeps a per-mailbox mark, the
// highest UID a session has claimed (as Dovecot keeps a "first recent
// UID"); a session's recent messages are the UID ranges it claimed. EXAMINE
// claims nothing (RFC 3501 6.3.2: it must not take \Recent away): it shows
// the unclaimed messages as recent.
//
// Clients read it: SELECT's "* n RECENT", \Recent in FETCH FLAGS, SEARCH
// NEW/OLD/RECENT, STATUS RECENT. The flag is session state: the store's
// flags never hold it, and the FETCH FLAGS updates queued for every session
// of a box (a flag change made elsewhere) carry the stored flags only.

const flagRecent = imap.Flag(`\Recent`)

// claimerLocked is the selection that claims new messages: the oldest
// read-write one. b.mu held.
func (b *box) claimerLocked() *selection {
	for _, sel := range b.sels {
		if !sel.readOnly {
			return sel
		}
	}
	return nil
}

// recentClaim is a range (from, to] of UIDs that sel took as recent.
type recentClaim struct {
	sel      *selection
	from, to uint32
}

// claimNew claims, for the box's claimer, the messages of msgs (a fresh
// store read) above those the box knows. syncMu held, so the box's message
// list does not change before the claim is applied.
func (b *box) claimNew(st *store.Store, msgs []store.Message) (recentClaim, error) {
	if len(msgs) == 0 {
		return recentClaim{}, nil
	}
	newLast := msgs[len(msgs)-1].UID
	b.mu.Lock()
	var last uint32
	if n := len(b.msgs); n > 0 {
		last = b.msgs[n-1].UID
	}
	loaded, claimer := b.loaded, b.claimerLocked()
	b.mu.Unlock()
	if !loaded || claimer == nil || newLast <= last {
		return recentClaim{}, nil
	}
	prev, err := st.ClaimRecent(b.key.journalist, b.key.mailbox, newLast)
	if err != nil {
		return recentClaim{}, fmt.Errorf("imapd: claim recent: %w", err)
	}
	return recentClaim{sel: claimer, from: prev, to: newLast}, nil
}

// recentArrivedLocked gives messages that arrived (last, newLast] to the
// claimer, or, when no session claimed them, to the read-only selections.
// b.mu held.
func (b *box) recentArrivedLocked(c recentClaim, last, newLast uint32) {
	if c.sel != nil {
		if c.to > c.from {
			c.sel.recent.AddRange(imap.UID(c.from+1), imap.UID(c.to))
		}
		return
	}
	for _, sel := range b.sels {
		if sel.readOnly {
			sel.recent.AddRange(imap.UID(last+1), imap.UID(newLast))
		}
	}
}

// notifyLocked wakes the idling sessions of the box. b.mu held.
func (b *box) notifyLocked() {
	for _, sel := range b.sels {
		select {
		case sel.notify <- struct{}{}:
		default:
		}
	}
}

// recentCountLocked counts sel's recent messages still in the box. b.mu held.
func (b *box) recentCountLocked(sel *selection) uint32 {
	var n int
	for _, r := range sel.recent {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		i := sort.Search(len(b.msgs), func(k int) bool { return b.msgs[k].UID >= lo })
		j := sort.Search(len(b.msgs), func(k int) bool { return b.msgs[k].UID > hi })
		if j > i {
			n += j - i
		}
	}
	return uint32(n)
}

// attach registers a new selection of the box with its recent messages:
// a read-write one claims those above the store's mark, a read-only one
// sees them without claiming. It returns the number of recent messages for
// SELECT's answer. syncMu held (no resync between the claim and the
// registration); it takes b.mu itself.
func (b *box) attach(st *store.Store, sel *selection) (uint32, error) {
	b.mu.Lock()
	var last uint32
	if n := len(b.msgs); n > 0 {
		last = b.msgs[n-1].UID
	}
	b.mu.Unlock()
	upTo := last
	if sel.readOnly {
		upTo = 0 // reads the mark, claims nothing
	}
	prev, err := st.ClaimRecent(b.key.journalist, b.key.mailbox, upTo)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if prev < last {
		sel.recent.AddRange(imap.UID(prev+1), imap.UID(last))
	}
	sel.tracker = b.tracker.NewSession()
	b.sels = append(b.sels, sel)
	sel.toldRecent = b.recentCountLocked(sel)
	sel.recentGen = b.gen
	return sel.toldRecent, nil
}

// detach removes a selection from its box.
func (b *box) detach(sel *selection) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sels = slices.DeleteFunc(b.sels, func(s *selection) bool { return s == sel })
}

// withRecent adds \Recent to the flags of the session's recent messages
// (copies: the records are the box's).
func (sess *session) withRecent(msgs []store.Message) {
	sel := sess.sel
	b := sel.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(sel.recent) == 0 {
		return
	}
	for i := range msgs {
		if sel.recent.Contains(imap.UID(msgs[i].UID)) {
			msgs[i].Flags = append(slices.Clip(msgs[i].Flags), string(flagRecent))
		}
	}
}

// poll writes the selection's queued updates, then "* n RECENT" if the
// number of its recent messages changed (RFC 3501 7.3.2: after new
// messages). The count is taken before the queue is drained, so it never
// counts a message whose EXISTS is still queued. While expunges are held
// back (FETCH, STORE, SEARCH), the count waits for a later poll.
func (sel *selection) poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	b := sel.box
	b.mu.Lock()
	gen, n := b.gen, sel.toldRecent
	check := allowExpunge && gen != sel.recentGen
	if check {
		n = b.recentCountLocked(sel)
	}
	b.mu.Unlock()
	if err := sel.tracker.Poll(w, allowExpunge); err != nil {
		return err
	}
	if !check {
		return nil
	}
	b.mu.Lock()
	told := sel.toldRecent
	sel.toldRecent, sel.recentGen = n, gen
	b.mu.Unlock()
	if n == told {
		return nil
	}
	return w.WriteNumRecent(n)
}

// idle writes updates as the box announces them, until stop.
func (sel *selection) idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	for {
		if err := sel.poll(w, true); err != nil {
			return err
		}
		select {
		case <-sel.notify:
		case <-stop:
			return nil
		}
	}
}

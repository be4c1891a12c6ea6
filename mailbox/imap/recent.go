package imapd

import (
	"fmt"
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"

	"postern/mailbox/store"
)

// \Recent (RFC 3501 2.3.2): a message is recent to exactly one session, the
// first to select its mailbox read-write after it arrived, or the one that
// had it selected when it arrived. The store keeps a per-mailbox mark, the
// highest UID a session has claimed (as Dovecot keeps a "first recent
// UID"); a session's recent messages are the UID ranges its view claimed.
// EXAMINE claims nothing (RFC 3501 6.3.2: it must not take \Recent away):
// it shows the unclaimed messages as recent.
//
// Clients read it: SELECT's "* n RECENT" and the one after new messages
// (view.poll), \Recent in FETCH FLAGS (the session's own answers and the
// updates of other sessions' flag changes alike), SEARCH NEW/OLD/RECENT,
// STATUS RECENT. The flag is session state: the store's flags never hold
// it.

const flagRecent = imap.Flag(`\Recent`)

// claimerLocked is the view that claims new messages: the oldest
// read-write one. b.mu held.
func (b *box) claimerLocked() *view {
	for _, v := range b.views {
		if !v.readOnly {
			return v
		}
	}
	return nil
}

// recentClaim is a range (from, to] of UIDs that v took as recent.
type recentClaim struct {
	v        *view
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
	return recentClaim{v: claimer, from: prev, to: newLast}, nil
}

// recentArrivedLocked gives messages that arrived (last, newLast] to the
// claimer, or, when no session claimed them, to the read-only views. b.mu
// held.
func (b *box) recentArrivedLocked(c recentClaim, last, newLast uint32) {
	if c.v != nil {
		if c.to > c.from {
			c.v.recent.AddRange(imap.UID(c.from+1), imap.UID(c.to))
		}
		return
	}
	for _, v := range b.views {
		if v.readOnly {
			v.recent.AddRange(imap.UID(last+1), imap.UID(newLast))
		}
	}
}

// countIn counts the UIDs of uids (sorted) that set holds.
func countIn(uids []uint32, set imap.UIDSet) uint32 {
	var n int
	for _, r := range set {
		lo, hi := uint32(min(r.Start, r.Stop)), uint32(max(r.Start, r.Stop))
		i := sort.Search(len(uids), func(k int) bool { return uids[k] >= lo })
		j := sort.Search(len(uids), func(k int) bool { return uids[k] > hi })
		if j > i {
			n += j - i
		}
	}
	return uint32(n)
}

// attach starts a session's view of the box with its recent messages: a
// read-write one claims those above the store's mark, a read-only one sees
// them without claiming. It returns the number of recent messages for
// SELECT's answer. syncMu held (no resync between the claim and the
// registration); it takes b.mu itself.
func (b *box) attach(st *store.Store, readOnly bool) (*view, uint32, error) {
	b.mu.Lock()
	var last uint32
	if n := len(b.msgs); n > 0 {
		last = b.msgs[n-1].UID
	}
	b.mu.Unlock()
	upTo := last
	if readOnly {
		upTo = 0 // reads the mark, claims nothing
	}
	prev, err := st.ClaimRecent(b.key.journalist, b.key.mailbox, upTo)
	if err != nil {
		return nil, 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.newViewLocked()
	v.readOnly = readOnly
	if prev < last {
		v.recent.AddRange(imap.UID(prev+1), imap.UID(last))
	}
	// The session is not using v yet: its uids are the box's messages.
	v.toldRecent = countIn(v.uids, v.recent)
	return v, v.toldRecent, nil
}

// withRecent adds \Recent to the flags of the session's recent messages
// (copies: the records are the box's).
func (sess *session) withRecent(msgs []store.Message) {
	v := sess.sel.view
	b := sess.sel.box
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(v.recent) == 0 {
		return
	}
	for i := range msgs {
		if v.recent.Contains(imap.UID(msgs[i].UID)) {
			msgs[i].Flags = append(slices.Clip(msgs[i].Flags), string(flagRecent))
		}
	}
}

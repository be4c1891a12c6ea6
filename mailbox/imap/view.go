package imapd

import (
	"slices"
	"sort"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postern/mailbox/store"
)

// view is what one session's client has been told about its selected
// mailbox: the UIDs by sequence number. Sequence numbers change only with
// the EXPUNGE responses the client receives (RFC 3501 §7.4.1, RFC 9051
// §5.5), so while another session's expunge is not yet reported the view
// still holds the message: "*" is the client's last message and every
// sequence number names the message the client means, expunged or not.
// It costs 4 bytes a message a session. The box holds the truth; poll
// tells the client the difference and moves the view to it.
type view struct {
	b *box
	// readOnly (EXAMINE) views see recent messages without claiming
	// them (recent.go). Set before the box lists the view.
	readOnly bool

	// mu guards uids, gen and toldRecent, and is held by poll while it
	// writes, so a command never resolves numbers against a half-told
	// view. The box never takes it.
	mu         sync.Mutex
	uids       []uint32
	gen        uint64 // the box's gen this view has caught up with
	toldRecent uint32 // the last "* n RECENT" count the client was told

	// recent are the UIDs recent to this session (recent.go). Guarded by
	// b.mu: the box adds the messages this session claims as they arrive.
	recent imap.UIDSet

	qmu       sync.Mutex   // guards flags and mboxFlags; taken by the box under b.mu
	flags     []flagChange // other sessions' flag changes not yet told
	mboxFlags []imap.Flag  // the mailbox's FLAGS, if a new keyword is not yet told
	wake      chan struct{}
}

type flagChange struct {
	uid   uint32
	flags []imap.Flag
}

// newViewLocked starts a view of everything in the box. Called with b.mu
// held.
func (b *box) newViewLocked() *view {
	v := &view{b: b, gen: b.gen, wake: make(chan struct{}, 1), uids: make([]uint32, len(b.msgs))}
	for i, m := range b.msgs {
		v.uids[i] = m.UID
	}
	b.views = append(b.views, v)
	return v
}

func (b *box) closeView(v *view) {
	b.mu.Lock()
	b.views = slices.DeleteFunc(b.views, func(w *view) bool { return w == v })
	b.mu.Unlock()
}

// notify wakes an idling session. Called with b.mu held.
func (v *view) notify() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// queueFlags records another session's flag change. Called with b.mu held.
func (v *view) queueFlags(uid uint32, flags []imap.Flag) {
	v.qmu.Lock()
	v.flags = append(v.flags, flagChange{uid, flags})
	v.qmu.Unlock()
	v.notify()
}

// queueMailboxFlags records the mailbox's new FLAGS (a keyword came into
// use); only the latest list is told. Called with b.mu held.
func (v *view) queueMailboxFlags(flags []imap.Flag) {
	v.qmu.Lock()
	v.mboxFlags = flags
	v.qmu.Unlock()
	v.notify()
}

// poll tells the client what changed: a new FLAGS list (before the FETCH
// that carries the keyword), expunges (only if allowExpunge: never during
// FETCH, STORE or SEARCH), new messages and "* n RECENT" after them (RFC
// 3501 §7.3.2; only if allowExpunge too), flag changes with this session's
// \Recent.
func (v *view) poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var now []uint32
	b := v.b
	b.mu.Lock()
	gen := b.gen
	if gen != v.gen {
		now = make([]uint32, len(b.msgs))
		for i, m := range b.msgs {
			now[i] = m.UID
		}
	}
	b.mu.Unlock()
	v.qmu.Lock()
	flags, mboxFlags := v.flags, v.mboxFlags
	v.flags, v.mboxFlags = nil, nil
	v.qmu.Unlock()
	var recent imap.UIDSet
	if gen != v.gen || len(flags) > 0 {
		// A copy: the box adds to it. What it adds meanwhile are new
		// arrivals, which neither the view nor the flag changes hold.
		b.mu.Lock()
		recent = slices.Clone(v.recent)
		b.mu.Unlock()
	}

	if mboxFlags != nil {
		if err := w.WriteMailboxFlags(mboxFlags); err != nil {
			return err
		}
	}
	if gen != v.gen {
		if allowExpunge {
			// From the highest sequence number down, so that each number
			// is valid as sent.
			gone := func(uid uint32) bool {
				_, ok := slices.BinarySearch(now, uid)
				return !ok
			}
			for i := len(v.uids) - 1; i >= 0; i-- {
				if gone(v.uids[i]) {
					if err := w.WriteExpunge(uint32(i) + 1); err != nil {
						return err
					}
				}
			}
			v.uids = slices.DeleteFunc(v.uids, gone)
			v.gen = gen
		}
		// UIDs only grow: what follows the view's last one is new.
		var last uint32
		if n := len(v.uids); n > 0 {
			last = v.uids[n-1]
		}
		if i := sort.Search(len(now), func(k int) bool { return now[k] > last }); i < len(now) {
			v.uids = append(v.uids, now[i:]...)
			if err := w.WriteNumMessages(uint32(len(v.uids))); err != nil {
				return err
			}
		}
		// While expunges are held back the count waits too, as it did
		// with imapconf's tracker: the view has not caught up (v.gen),
		// so the next poll that may expunge recounts and tells it.
		if n := countIn(v.uids, recent); allowExpunge && n != v.toldRecent {
			v.toldRecent = n
			if err := w.WriteNumRecent(n); err != nil {
				return err
			}
		}
	}
	for _, f := range flags {
		if i, ok := slices.BinarySearch(v.uids, f.uid); ok {
			fl := f.flags
			if recent.Contains(imap.UID(f.uid)) {
				fl = append(slices.Clip(fl), flagRecent)
			}
			if err := w.WriteMessageFlags(uint32(i)+1, imap.UID(f.uid), fl); err != nil {
				return err
			}
		}
	}
	return nil
}

// idle polls whenever the box changes, until stop.
func (v *view) idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	for {
		select {
		case <-v.wake:
			if err := v.poll(w, true); err != nil {
				return err
			}
		case <-stop:
			return nil
		}
	}
}

// seqOf is the client's sequence number of uid, 0 if it has not been told
// of it. Called with v.mu held.
func (v *view) seqOf(uid uint32) uint32 {
	if i, ok := slices.BinarySearch(v.uids, uid); ok {
		return uint32(i) + 1
	}
	return 0
}

// expungedIn reports whether a UID set names a message the client was told
// of and another session has expunged since.
func (v *view) expungedIn(numSet imap.NumSet, searchRes imap.UIDSet) bool {
	if imap.IsSearchRes(numSet) {
		numSet = searchRes
	}
	set, ok := numSet.(imap.UIDSet)
	if !ok {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	b := v.b
	b.mu.Lock()
	defer b.mu.Unlock()
	var last uint32
	if n := len(v.uids); n > 0 {
		last = v.uids[n-1]
	}
	for _, r := range staticUIDSet(set, last) {
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		i, _ := slices.BinarySearch(v.uids, uint32(lo))
		for ; i < len(v.uids) && v.uids[i] <= uint32(hi); i++ {
			if _, ok := slices.BinarySearchFunc(b.msgs, v.uids[i], func(m store.Message, uid uint32) int {
				return cmpUID(m.UID, uid)
			}); !ok {
				return true
			}
		}
	}
	return false
}

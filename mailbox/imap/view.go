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

	// mu guards uids and gen, and is held by poll while it writes, so a
	// command never resolves numbers against a half-told view. The box
	// never takes it.
	mu   sync.Mutex
	uids []uint32
	gen  uint64 // the box's gen this view has caught up with

	qmu   sync.Mutex   // guards flags; taken by the box under b.mu
	flags []flagChange // other sessions' flag changes not yet told
	wake  chan struct{}
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
	if b.views == nil {
		b.views = map[*view]struct{}{}
	}
	b.views[v] = struct{}{}
	return v
}

func (b *box) closeView(v *view) {
	b.mu.Lock()
	delete(b.views, v)
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

// poll tells the client what changed: expunges (only if allowExpunge:
// never during FETCH, STORE or SEARCH), new messages, flag changes.
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
	flags := v.flags
	v.flags = nil
	v.qmu.Unlock()

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
	}
	for _, f := range flags {
		if i, ok := slices.BinarySearch(v.uids, f.uid); ok {
			if err := w.WriteMessageFlags(uint32(i)+1, imap.UID(f.uid), f.flags); err != nil {
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

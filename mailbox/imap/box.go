package imapd

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/emersion/go-imap/v2"

	"postern/mailbox/store"
)

// boxKey names one journalist's mailbox (canonical store name).
type boxKey struct{ journalist, mailbox string }

// box is the state of one mailbox shared by the sessions that selected it:
// the message records (UID order) as the store last had them. The store is
// the truth; resync moves the box to it and wakes the sessions' views,
// which tell their clients the differences (view.poll). Commands read
// records from the box, so a FETCH of one message costs one lookup, not a
// read of the whole mailbox (mbsync sends one FETCH per message).
type box struct {
	key  boxKey
	refs int // guarded by Server.mu

	// syncMu serialises resyncs from the store read to the last queued
	// update: two overlapping resyncs applied out of order would announce
	// an older state after a newer one (a live message as expunged).
	syncMu sync.Mutex

	mu     sync.Mutex // guards the fields below; never held while writing to a client
	loaded bool
	gen    uint64          // counts changes of the UID list (expunges, arrivals)
	msgs   []store.Message // UID order; Flags canonical (sorted) as the store gives them
	// views are the sessions that selected the box, in the order they
	// selected it: the first read-write one claims new messages as
	// \Recent (recent.go).
	views []*view
	// keywords are the keywords in use, sorted (keywords.go).
	keywords []string
}

// resync reads the mailbox from the store, and wakes every view: each
// tells its client the expunges and new messages at its next poll, and
// the flag changes queued here. exclude (the session that made a flag
// change and answers it itself) gets no flag updates.
func (b *box) resync(st *store.Store, exclude *view) error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	return b.resyncLocked(st, exclude)
}

// change runs fn (a store write to this mailbox) and resyncs, under syncMu:
// the worker's resync for the same change then finds nothing new, so the
// session that made it (exclude, which answers it itself) is not also sent
// an unsolicited FETCH of the flags it was just answered. A failed resync
// is logged, as refresh does: the change itself is made.
func (s *Server) change(b *box, exclude *view, fn func() error) error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	if err := fn(); err != nil {
		return err
	}
	if err := b.resyncLocked(s.o.Store, exclude); err != nil {
		s.log.Warn("imap: mailbox refresh failed", "err", err)
	}
	return nil
}

// resyncLocked is resync with syncMu held.
func (b *box) resyncLocked(st *store.Store, exclude *view) error {
	msgs, err := st.MessageIndex(b.key.journalist, b.key.mailbox) // no Meta: session.structureOf reads it
	if errors.Is(err, store.ErrNotFound) {
		// Deleted or renamed under the session: it keeps its last view,
		// and commands on it fail.
		return nil
	}
	if err != nil {
		return fmt.Errorf("imapd: resync: %w", err)
	}
	claim, claimErr := b.claimNew(st, msgs)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.loaded {
		b.loaded = true
		b.msgs = msgs
		b.noteKeywordsLocked(msgs)
		return nil
	}
	// A new keyword is announced to every session (the one that made it
	// too), before the FETCH that carries it (view.poll).
	if b.noteKeywordsLocked(msgs) {
		flags, _ := b.flagsLocked()
		for _, v := range b.views {
			v.queueMailboxFlags(flags)
		}
	}

	now := make(map[uint32]int, len(msgs))
	for i, m := range msgs {
		now[m.UID] = i
	}
	n := len(b.msgs)
	b.msgs = slices.DeleteFunc(b.msgs, func(m store.Message) bool {
		_, ok := now[m.UID]
		return !ok
	})
	changed := len(b.msgs) != n
	// Flag changes of the messages that stay.
	for i, old := range b.msgs {
		m := msgs[now[old.UID]]
		if !slices.Equal(m.Flags, old.Flags) {
			for _, v := range b.views {
				if v != exclude {
					v.queueFlags(m.UID, toFlags(m.Flags))
				}
			}
		}
		b.msgs[i] = m
	}
	// New messages: UIDs only grow, so they follow the last known one.
	var last uint32
	if len(b.msgs) > 0 {
		last = b.msgs[len(b.msgs)-1].UID
	}
	added := false
	for _, m := range msgs {
		if m.UID > last {
			b.msgs = append(b.msgs, m)
			added = true
		}
	}
	if added {
		b.recentArrivedLocked(claim, last, b.msgs[len(b.msgs)-1].UID)
		changed = true
	}
	if changed {
		b.gen++
		for _, v := range b.views {
			v.notify()
		}
	}
	return claimErr
}

func (b *box) isLoaded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.loaded
}

// lookup returns the records of es, dropping messages expunged meanwhile;
// gone counts the dropped ones the client had been told of.
func (b *box) lookup(es []entry) (outE []entry, outM []store.Message, gone int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range es {
		i, ok := slices.BinarySearchFunc(b.msgs, e.uid, func(m store.Message, uid uint32) int {
			return cmpUID(m.UID, uid)
		})
		if ok {
			outE = append(outE, e)
			outM = append(outM, b.msgs[i])
		} else if e.seq != 0 {
			gone++
		}
	}
	return outE, outM, gone
}

// toFlags converts store flags (sorted, canonical) to IMAP flags.
func toFlags(fs []string) []imap.Flag {
	out := make([]imap.Flag, len(fs))
	for i, f := range fs {
		out[i] = imap.Flag(f)
	}
	return out
}

func fromFlags(fs []imap.Flag) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if equalFold(string(f), `\Recent`) || f == imap.FlagWildcard {
			continue
		}
		out = append(out, string(f))
	}
	return out
}

func hasFlag(fs []imap.Flag, f imap.Flag) bool {
	return slices.ContainsFunc(fs, func(g imap.Flag) bool { return equalFold(string(g), string(f)) })
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// entry is one message of a command's number set: its sequence number as
// the client knows it, and its UID.
type entry struct {
	seq uint32 // client view; 0 if the client has not been told about it
	uid uint32
}

// resolve turns a number set into entries, in mailbox order. A sequence
// set is read in the client's view, so it may name messages expunged since
// (lookup drops them and counts them). A UID set names the messages that
// exist, those the client has not been told of included (seq 0).
func (v *view) resolve(numSet imap.NumSet, searchRes imap.UIDSet) []entry {
	v.mu.Lock()
	defer v.mu.Unlock()
	if imap.IsSearchRes(numSet) {
		numSet = searchRes
	}
	var out []entry
	switch set := numSet.(type) {
	case imap.SeqSet:
		n := uint32(len(v.uids))
		var spans [][2]uint32
		for _, r := range staticSeqSet(set, n) {
			lo, hi := min(r.Start, r.Stop), min(max(r.Start, r.Stop), n)
			if lo = max(lo, 1); lo <= hi {
				spans = append(spans, [2]uint32{lo, hi})
			}
		}
		sort.Slice(spans, func(x, y int) bool { return spans[x][0] < spans[y][0] })
		next := uint32(1) // first sequence number not yet emitted
		for _, sp := range spans {
			for s := max(sp[0], next); s <= sp[1]; s++ {
				out = append(out, entry{s, v.uids[s-1]})
			}
			next = max(next, sp[1]+1)
		}
	case imap.UIDSet:
		b := v.b
		b.mu.Lock()
		defer b.mu.Unlock()
		var last uint32
		if len(b.msgs) > 0 {
			last = b.msgs[len(b.msgs)-1].UID
		}
		// Binary search per range: clients such as mbsync fetch a large
		// mailbox in many small UID sets, and testing every message
		// against each set made a sync quadratic.
		var spans [][2]int
		for _, r := range staticUIDSet(set, last) {
			lo, hi := uint32(r.Start), uint32(r.Stop)
			if lo > hi {
				lo, hi = hi, lo
			}
			i := sort.Search(len(b.msgs), func(k int) bool { return b.msgs[k].UID >= lo })
			j := sort.Search(len(b.msgs), func(k int) bool { return b.msgs[k].UID > hi })
			if i < j {
				spans = append(spans, [2]int{i, j})
			}
		}
		sort.Slice(spans, func(x, y int) bool { return spans[x][0] < spans[y][0] })
		next := 0 // first index not yet emitted
		for _, sp := range spans {
			for i := max(sp[0], next); i < sp[1]; i++ {
				out = append(out, entry{v.seqOf(b.msgs[i].UID), b.msgs[i].UID})
			}
			next = max(next, sp[1])
		}
	}
	return out
}

// all lists every message the box holds with its client sequence number.
func (v *view) all() []entry {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := v.b
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]entry, len(b.msgs))
	for i, m := range b.msgs {
		out[i] = entry{v.seqOf(m.UID), m.UID}
	}
	return out
}

// count is the number of messages the client knows of.
func (v *view) count() uint32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return uint32(len(v.uids))
}

func staticSeqSet(set imap.SeqSet, max uint32) imap.SeqSet {
	out := make(imap.SeqSet, len(set))
	for i, r := range set {
		out[i] = imap.SeqRange{Start: r.Start, Stop: r.Stop}
		staticRange(&out[i].Start, &out[i].Stop, max)
	}
	return out
}

func staticUIDSet(set imap.UIDSet, max uint32) imap.UIDSet {
	out := make(imap.UIDSet, len(set))
	for i, r := range set {
		start, stop := uint32(r.Start), uint32(r.Stop)
		staticRange(&start, &stop, max)
		out[i] = imap.UIDRange{Start: imap.UID(start), Stop: imap.UID(stop)}
	}
	return out
}

// staticRange replaces "*" (0) by max; "n:*" with n > max means max:n.
func staticRange(start, stop *uint32, max uint32) {
	dyn := false
	if *start == 0 {
		*start, dyn = max, true
	}
	if *stop == 0 {
		*stop, dyn = max, true
	}
	if dyn && *start > *stop {
		*start, *stop = *stop, *start
	}
}

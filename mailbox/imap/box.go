package imapd

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postern/mailbox/store"
)

// boxKey names one journalist's mailbox (canonical store name).
type boxKey struct{ journalist, mailbox string }

// box is the state of one mailbox shared by the sessions that selected it:
// the message records (UID order) the sessions have been told about. The
// store is the truth; resync moves the box to it and queues the
// differences. Commands read records from the box, so a FETCH of one
// message costs one lookup, not a read of the whole mailbox (mbsync sends
// one FETCH per message).
type box struct {
	key  boxKey
	refs int // guarded by Server.mu

	// syncMu serialises resyncs from the store read to the last queued
	// update: two overlapping resyncs applied out of order would announce
	// an older state after a newer one (a live message as expunged).
	syncMu sync.Mutex

	mu      sync.Mutex // guards the fields below; never held while writing to a client
	loaded  bool
	tracker *imapserver.MailboxTracker
	msgs    []store.Message // UID order; Flags canonical (sorted) as the store gives them
}

// resync reads the mailbox from the store and queues EXPUNGE, EXISTS and
// FETCH FLAGS updates for every session. exclude (the session that made a
// flag change and answers it itself) gets no flag updates.
func (b *box) resync(st *store.Store, exclude *imapserver.SessionTracker) error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	msgs, err := st.MessageIndex(b.key.journalist, b.key.mailbox) // no Meta: session.structureOf reads it
	if errors.Is(err, store.ErrNotFound) {
		// Deleted or renamed under the session: it keeps its last view,
		// and commands on it fail.
		return nil
	}
	if err != nil {
		return fmt.Errorf("imapd: resync: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.loaded {
		b.loaded = true
		b.msgs = msgs
		b.tracker = imapserver.NewMailboxTracker(uint32(len(msgs)))
		return nil
	}

	now := make(map[uint32]int, len(msgs))
	for i, m := range msgs {
		now[m.UID] = i
	}
	// Expunges, from the highest sequence number down so that each one
	// is valid as sent.
	for i := len(b.msgs) - 1; i >= 0; i-- {
		if _, ok := now[b.msgs[i].UID]; ok {
			continue
		}
		b.msgs = slices.Delete(b.msgs, i, i+1)
		b.tracker.QueueExpunge(uint32(i) + 1)
	}
	// Flag changes of the messages that stay.
	for i, old := range b.msgs {
		m := msgs[now[old.UID]]
		if !slices.Equal(m.Flags, old.Flags) {
			b.tracker.QueueMessageFlags(uint32(i)+1, imap.UID(m.UID), toFlags(m.Flags), exclude)
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
		b.tracker.QueueNumMessages(uint32(len(b.msgs)))
	}
	return nil
}

// lookup returns the records of es (dropping messages gone meanwhile).
func (b *box) lookup(es []entry) ([]entry, []store.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var (
		outE []entry
		outM []store.Message
	)
	for _, e := range es {
		i, ok := slices.BinarySearchFunc(b.msgs, e.uid, func(m store.Message, uid uint32) int {
			return cmpUID(m.UID, uid)
		})
		if ok {
			outE = append(outE, e)
			outM = append(outM, b.msgs[i])
		}
	}
	return outE, outM
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

// entry is one message of a command's number set, as resolved under the
// box lock: its sequence number as the client knows it, and its UID.
type entry struct {
	seq uint32 // client view; 0 if the client has not been told about it
	uid uint32
}

// resolve turns a number set into entries, in mailbox order. Messages the
// client does not know yet are left out of sequence sets.
func (b *box) resolve(t *imapserver.SessionTracker, numSet imap.NumSet, searchRes imap.UIDSet) []entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	if imap.IsSearchRes(numSet) {
		numSet = searchRes
	}
	var out []entry
	switch set := numSet.(type) {
	case imap.SeqSet:
		set = staticSeqSet(set, uint32(len(b.msgs)))
		for i, m := range b.msgs {
			seq := t.EncodeSeqNum(uint32(i) + 1)
			if seq != 0 && set.Contains(seq) {
				out = append(out, entry{seq, m.UID})
			}
		}
	case imap.UIDSet:
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
				out = append(out, entry{t.EncodeSeqNum(uint32(i) + 1), b.msgs[i].UID})
			}
			next = max(next, sp[1])
		}
	}
	return out
}

// all lists every message the box knows with its client sequence number.
func (b *box) all(t *imapserver.SessionTracker) []entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]entry, len(b.msgs))
	for i, m := range b.msgs {
		out[i] = entry{t.EncodeSeqNum(uint32(i) + 1), m.UID}
	}
	return out
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

package imapd

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"postern/mailbox/store"
)

// TestResolveUIDs checks the binary-search resolve against the plain
// definition: every message whose UID the set contains, once, in mailbox
// order, with "*" as the highest UID and reversed ranges allowed.
func TestResolveUIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		var msgs []store.Message
		uid := uint32(0)
		for range rng.IntN(40) {
			uid += 1 + uint32(rng.IntN(4))
			msgs = append(msgs, store.Message{UID: uid})
		}
		b := &box{loaded: true, msgs: msgs}
		v := b.newViewLocked()
		var set imap.UIDSet
		for range 1 + rng.IntN(4) {
			r := imap.UIDRange{Start: imap.UID(rng.IntN(int(uid) + 3)), Stop: imap.UID(rng.IntN(int(uid) + 3))}
			if r.Start == 0 && rng.IntN(2) == 0 {
				r.Start = 1
			}
			set = append(set, r)
		}
		var want []entry
		for i, m := range msgs {
			for _, r := range set {
				lo, hi := uint32(r.Start), uint32(r.Stop)
				if lo == 0 {
					lo = uid
				}
				if hi == 0 {
					hi = uid
				}
				if lo > hi {
					lo, hi = hi, lo
				}
				if m.UID >= lo && m.UID <= hi {
					want = append(want, entry{uint32(i) + 1, m.UID})
					break
				}
			}
		}
		got := v.resolve(set, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: set %v over %d messages (last UID %d)\ngot  %v\nwant %v", round, set, len(msgs), uid, got, want)
		}
	}
}

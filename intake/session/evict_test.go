package session

import (
	"testing"
	"time"
)

// A table full of owned sessions, every one of them used a moment ago (a
// flood of sources made for the purpose, kept alive by page views), still
// lets a returning source log in: it takes the place of the session unused
// longest. Before, a login then got ErrFull until some session had been
// unused for EvictAfter.
func TestLoginIntoTableFullOfRecentOwnedSessions(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	st := New(Options{Idle: time.Hour, Max: 8, Reserve: 2, MaxPerOwner: 4, Now: c.now})
	var oldest *secret
	for i := range 8 {
		d := &secret{b: []byte{1}}
		if i == 0 {
			oldest = d
		}
		if _, _, err := st.CreateOwned(d, []byte{byte(i / 4)}); err != nil {
			t.Fatalf("flood login %d: %v", i, err)
		}
		c.add(time.Second)
	}
	_, tok, err := st.CreateOwned(&secret{}, []byte("returning source"))
	if err != nil {
		t.Fatalf("returning source refused in a table full of recent owned sessions: %v", err)
	}
	if st.Get(tok) == nil || oldest.wiped != 1 || st.Len() != 8 {
		t.Fatalf("the session unused longest was not the one pushed out (wiped %d, len %d)", oldest.wiped, st.Len())
	}
	// A held session (an upload in progress) is never the one pushed out.
	st2 := New(Options{Idle: time.Hour, Max: 1, Now: c.now})
	s, _, _ := st2.CreateOwned(&secret{}, []byte{1})
	release := st2.Hold(s)
	if _, _, err := st2.CreateOwned(&secret{}, []byte{2}); err != ErrFull {
		t.Fatalf("a held session was pushed out: %v", err)
	}
	release()
}

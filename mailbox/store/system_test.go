package store

import (
	"slices"
	"testing"
)

// The hidden system account (relay selftest's mailbox) can receive a
// delivery addressed to it, but is no journalist: Journalists, Stats and a
// delivery to everyone leave it out, so no submission reaches or is
// encrypted for it.
func TestSystemAccountHidden(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	if err := s.AddJournalist(Journalist{Name: "_selftest", PasswordHash: "x", System: true}); err != nil {
		t.Fatal(err)
	}
	js, err := s.Journalists()
	if err != nil || len(js) != 1 || js[0].Name != "ana" {
		t.Fatalf("journalists: %+v %v", js, err)
	}
	if st, err := s.Stats(); err != nil || st.Journalists != 1 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	if j, err := s.Journalist("_selftest"); err != nil || !j.System {
		t.Fatalf("the system account itself: %+v %v", j, err)
	}
	// It sits on no desk, even while the instance has one desk that every
	// new journalist joins: else every submission would be encrypted to the
	// selftest key and delivered to its account.
	ds, err := s.Desks()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if slices.Contains(d.Journalists, "_selftest") {
			t.Fatalf("the system account sits on desk %s: %v", d.Slug, d.Journalists)
		}
	}
	src := addSource(t, s, "quixotic tangerine")
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("to everyone")), SourceID: src.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("canary")), Journalists: []string{"_selftest"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, s, "_selftest", "INBOX")); n != 1 {
		t.Fatalf("the system account holds %d messages, want only the one addressed to it", n)
	}
	if n := len(messages(t, s, "ana", "INBOX")); n != 1 {
		t.Fatalf("ana holds %d messages", n)
	}
	mustCheck(t, s)
}

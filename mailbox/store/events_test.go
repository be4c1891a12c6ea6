package store

import (
	"slices"
	"testing"
)

func TestEvents(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	addJournalist(t, s, "bob")
	var got []Event
	cancel := s.Subscribe(func(e Event) {
		// Reading from a subscriber is allowed and sees the committed change.
		if e.Kind == EventNew {
			if mb, err := s.Mailbox(e.Journalist, e.Mailbox); err != nil || mb.Count == 0 {
				t.Errorf("subscriber read: %+v %v", mb, err)
			}
		}
		got = append(got, e)
	})
	ref := putBlob(t, s, []byte("x"))
	if err := s.Deliver(Delivery{Blob: ref}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFlags("ana", "INBOX", []uint32{1}, FlagAdd, []string{`\Seen`}); err != nil {
		t.Fatal(err)
	}
	// No change, no event.
	if err := s.SetFlags("ana", "INBOX", []uint32{1}, FlagAdd, []string{`\Seen`}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move("ana", "INBOX", []uint32{1}, "Archive"); err != nil {
		t.Fatal(err)
	}
	// A failed transaction publishes nothing.
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("y")), Journalists: []string{"ana", "ghost"}}); err == nil {
		t.Fatal("delivery to a ghost succeeded")
	}
	// A changed password ends sessions; a changed key does not.
	if err := s.UpdateJournalist("ana", func(j *Journalist) error { j.Fingerprint = "NEW"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateJournalist("ana", func(j *Journalist) error { j.PasswordHash = "reset"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveJournalist("bob"); err != nil {
		t.Fatal(err)
	}
	cancel()
	cancel()
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("z"))}); err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{"ana", "INBOX", EventNew, []uint32{1}},
		{"bob", "INBOX", EventNew, []uint32{1}},
		{"ana", "INBOX", EventFlags, []uint32{1}},
		{"ana", "Archive", EventNew, []uint32{1}},
		{"ana", "INBOX", EventExpunge, []uint32{1}},
		{"ana", "", EventLogout, nil},
		{"bob", "", EventLogout, nil},
	}
	if !slices.EqualFunc(got, want, func(a, b Event) bool {
		return a.Journalist == b.Journalist && a.Mailbox == b.Mailbox && a.Kind == b.Kind && slices.Equal(a.UIDs, b.UIDs)
	}) {
		t.Fatalf("events\n got %+v\nwant %+v", got, want)
	}
}

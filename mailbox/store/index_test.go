package store

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// MessageIndex lists what Messages lists except Meta and the source, and
// MessageMeta gives one message's Meta: together they serve IMAP without
// keeping every message's Meta in memory.
func TestMessageIndexAndMeta(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "alice")
	src := addSource(t, s, "blue heron")
	for i := range 3 {
		ref := putBlob(t, s, randomBytes(t, 100+i))
		if err := s.Deliver(Delivery{Blob: ref, SourceID: src.ID, Flags: []string{`\Seen`, "$label1"}, Meta: []byte{'m', byte('0' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	full, err := s.Messages("alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := s.MessageIndex("alice", "inbox")
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != len(full) || len(idx) != 3 || cap(idx) != len(idx) {
		t.Fatalf("index has %d messages (cap %d), Messages %d", len(idx), cap(idx), len(full))
	}
	for i, m := range idx {
		f := full[i]
		if m.UID != f.UID || m.Blob != f.Blob || !slices.Equal(m.Flags, f.Flags) || !m.Date.Equal(f.Date) {
			t.Errorf("index %+v, Messages %+v", m, f)
		}
		if m.Meta != nil || m.SourceID != nil {
			t.Errorf("index of UID %d carries Meta or source", m.UID)
		}
		meta, err := s.MessageMeta("alice", "INBOX", m.UID)
		if err != nil || !bytes.Equal(meta, f.Meta) {
			t.Errorf("MessageMeta(%d) = %q, %v; want %q", m.UID, meta, err, f.Meta)
		}
	}
	if _, err := s.MessageMeta("alice", "INBOX", 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("MessageMeta of a missing UID: %v, want ErrNotFound", err)
	}
	if _, err := s.MessageIndex("alice", "Nowhere"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MessageIndex of a missing mailbox: %v, want ErrNotFound", err)
	}
}

package store

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A message's record holds no Meta: a pass over a mailbox's records (the
// IMAP index at SELECT, retention, STATUS) reads small records and does not
// page every message's structure into memory.
func TestMessageRecordsHoldNoMeta(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "alice")
	meta := bytes.Repeat([]byte("structure "), 200) // about what a real message's is
	ref := putBlob(t, s, randomBytes(t, 300))
	if err := s.Deliver(Delivery{Blob: ref, Meta: meta}); err != nil {
		t.Fatal(err)
	}
	uid, err := s.Append("alice", "INBOX", putBlob(t, s, randomBytes(t, 200)), nil, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy("alice", "INBOX", []uint32{uid}, "Archive"); err != nil {
		t.Fatal(err)
	}
	for _, mb := range []string{"INBOX", "Archive"} {
		for _, m := range messages(t, s, "alice", mb) {
			if !bytes.Equal(m.Meta, meta) {
				t.Errorf("%s UID %d: Meta %d bytes, want %d", mb, m.UID, len(m.Meta), len(meta))
			}
			err := s.viewMessages("alice", mb, func(_ *bolt.Tx, _ *mbox, b *bolt.Bucket) error {
				if n := len(b.Get(u32(m.UID))); n > 200 {
					t.Errorf("%s UID %d: the record is %d bytes: Meta is inline", mb, m.UID, n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Expunge("alice", "INBOX", []uint32{uid}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MessageMeta("alice", "INBOX", uid); err == nil {
		t.Error("an expunged message still has its Meta")
	}
	mustCheck(t, s)
}

// Migration 0003 moves the inline Meta of a data directory written before
// it into its own bucket: every message keeps its Meta, the records lose
// it, and the store checks clean.
func TestMigrationMovesMetaOutOfRecords(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "alice")
	src := addSource(t, s, "blue heron")
	for i := range 4 {
		var meta []byte
		if i != 2 { // one message delivered without Meta
			meta = bytes.Repeat([]byte{'a' + byte(i)}, 500+i)
		}
		if err := s.Deliver(Delivery{Blob: putBlob(t, s, randomBytes(t, 100+i)), SourceID: src.ID, Meta: meta}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Copy("alice", "INBOX", []uint32{1, 3}, "Archive"); err != nil {
		t.Fatal(err)
	}
	want := map[string][]Message{"INBOX": messages(t, s, "alice", "INBOX"), "Archive": messages(t, s, "alice", "Archive")}
	// Back to the layout before 0003: Meta inline, no bucket, not recorded.
	err := s.db.Update(func(tx *bolt.Tx) error {
		byID, err := mailboxesByID(tx)
		if err != nil {
			return err
		}
		for _, m := range byID {
			b, _ := m.msgs(tx)
			var recs = map[uint32]messageRec{}
			if err := b.ForEach(func(k, _ []byte) error {
				var rec messageRec
				if err := getJSON(b, k, &rec); err != nil {
					return err
				}
				rec.OldMeta = bytes.Clone(getMeta(tx, m.rec.ID, beUint32(k)))
				recs[beUint32(k)] = rec
				return nil
			}); err != nil {
				return err
			}
			for uid, rec := range recs {
				if err := putJSON(b, u32(uid), rec); err != nil {
					return err
				}
			}
		}
		if err := tx.DeleteBucket(bMsgMeta); err != nil {
			return err
		}
		meta := tx.Bucket(bMeta)
		var done []string
		if err := json.Unmarshal(meta.Get(kMigrations), &done); err != nil {
			return err
		}
		done = slices.DeleteFunc(done, func(n string) bool { return n == "0003-message-meta-own-bucket" })
		return putMetaRecord(meta, schemaVersion, done, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	if _, done := s.Schema(); !slices.Contains(done, "0003-message-meta-own-bucket") {
		t.Fatalf("migration not recorded: %v", done)
	}
	for mb, ms := range want {
		got := messages(t, s, "alice", mb)
		if len(got) != len(ms) {
			t.Fatalf("%s: %d messages after the migration, want %d", mb, len(got), len(ms))
		}
		for i, m := range got {
			if m.UID != ms[i].UID || !bytes.Equal(m.Meta, ms[i].Meta) || !slices.Equal(m.SourceID, ms[i].SourceID) || m.Blob != ms[i].Blob {
				t.Errorf("%s UID %d: after the migration %d bytes of Meta, want %d", mb, m.UID, len(m.Meta), len(ms[i].Meta))
			}
			if meta, err := s.MessageMeta("alice", mb, m.UID); err != nil || !bytes.Equal(meta, ms[i].Meta) {
				t.Errorf("%s UID %d: MessageMeta %d bytes, %v", mb, m.UID, len(meta), err)
			}
		}
		err := s.viewMessages("alice", mb, func(_ *bolt.Tx, _ *mbox, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if bytes.Contains(v, []byte(`"m":`)) {
					t.Errorf("%s UID %d: the record still holds Meta", mb, beUint32(k))
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, s)
}

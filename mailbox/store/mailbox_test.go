package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestJournalistsAndDefaultMailboxes(t *testing.T) {
	s, _ := newTestStore(t)
	expires := time.Date(2027, 5, 6, 7, 8, 9, 0, time.UTC)
	err := s.AddJournalist(Journalist{Name: "zoe", PasswordHash: "$argon2id$v=19$...", PublicKey: []byte{1, 2},
		Fingerprint: "ABCD", KeyExpires: expires, OnionAuthPublic: "descriptor:x25519:AAAA"})
	if err != nil {
		t.Fatal(err)
	}
	addJournalist(t, s, "ana")
	if err := s.AddJournalist(Journalist{Name: "ana"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, bad := range []string{"", "a b", "a\nb"} {
		if err := s.AddJournalist(Journalist{Name: bad}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	js, err := s.Journalists()
	if err != nil || len(js) != 2 || js[0].Name != "ana" || js[1].Name != "zoe" {
		t.Fatalf("%+v %v", js, err)
	}
	z := js[1]
	if z.KeyExpires != time.Date(2027, 5, 6, 0, 0, 0, 0, time.UTC) || z.Created != time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("dates not day-granular UTC: %v %v", z.KeyExpires, z.Created)
	}
	if z.OnionAuthPublic != "descriptor:x25519:AAAA" || !slices.Equal(z.PublicKey, []byte{1, 2}) {
		t.Fatalf("%+v", z)
	}

	mbs, err := s.Mailboxes("ana")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"INBOX": "", "Sent": `\Sent`, "Drafts": `\Drafts`, "Trash": `\Trash`, "Archive": `\Archive`, "Junk": `\Junk`}
	if len(mbs) != len(want) {
		t.Fatalf("mailboxes %+v", mbs)
	}
	validities := map[uint32]bool{}
	for _, m := range mbs {
		use, ok := want[m.Name]
		if !ok || use != m.SpecialUse || !m.Subscribed || m.UIDNext != 1 || m.UIDValidity == 0 || m.Count != 0 {
			t.Errorf("mailbox %+v", m)
		}
		validities[m.UIDValidity] = true
	}
	if len(validities) < 2 {
		t.Error("UIDVALIDITY is not random per mailbox")
	}

	err = s.UpdateJournalist("ana", func(j *Journalist) error {
		j.PasswordHash = "new"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := s.Journalist("ana"); j.PasswordHash != "new" {
		t.Fatal("update lost")
	}
	if err := s.UpdateJournalist("ana", func(j *Journalist) error { j.Name = "bob"; return nil }); err == nil {
		t.Fatal("rename accepted")
	}
	boom := errors.New("boom")
	if err := s.UpdateJournalist("ana", func(j *Journalist) error { j.PasswordHash = "x"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error: %v", err)
	}
	if j, _ := s.Journalist("ana"); j.PasswordHash != "new" {
		t.Fatal("failed update was applied")
	}
	if _, err := s.Journalist("nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
	if err := s.UpdateJournalist("nobody", func(*Journalist) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
	if _, err := s.Mailboxes("nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
	mustCheck(t, s)
}

func TestDeliverUIDsAndPersistence(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	addJournalist(t, s, "bob")
	src := addSource(t, s, "quixotic tangerine")
	for i := 0; i < 3; i++ {
		ref := putBlob(t, s, []byte{byte(i)})
		if err := s.Deliver(Delivery{Blob: ref, SourceID: src.ID, Flags: []string{"$label1", `\seen`, `\Recent`}, Meta: []byte("env")}); err != nil {
			t.Fatal(err)
		}
	}
	// One more only for bob, into Archive.
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("b")), Journalists: []string{"bob"}, Mailbox: "Archive"}); err != nil {
		t.Fatal(err)
	}
	msgs := messages(t, s, "ana", "inbox")
	if !slices.Equal(uids(msgs), []uint32{1, 2, 3}) {
		t.Fatalf("uids %v", uids(msgs))
	}
	m := msgs[0]
	if !slices.Equal(m.Flags, []string{"$label1", `\Seen`}) || string(m.Meta) != "env" || !slices.Equal(m.SourceID, src.ID) {
		t.Fatalf("message %+v", m)
	}
	if m.Date != time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("date %v", m.Date)
	}
	if got := uids(messages(t, s, "bob", "Archive")); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("bob archive %v", got)
	}
	before, err := s.Mailboxes("ana")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats()
	if st != (Stats{Journalists: 2, Sources: 1, Messages: 7, Blobs: 4, BlobBytes: 4}) {
		t.Fatalf("stats %+v", st)
	}

	s = reopen(t, s)
	after, err := s.Mailboxes("ana")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Fatalf("mailboxes changed across reopen:\n%+v\n%+v", before, after)
	}
	inbox, _ := s.Mailbox("ana", "INBOX")
	if inbox.UIDNext != 4 || inbox.Count != 3 {
		t.Fatalf("inbox %+v", inbox)
	}
	// UIDs are never reused, even after expunging the highest.
	if err := s.Expunge("ana", "INBOX", []uint32{3}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	uid, err := s.Append("ana", "INBOX", putBlob(t, s, []byte("appended")), nil, nil)
	if err != nil || uid != 4 {
		t.Fatalf("append uid %d %v", uid, err)
	}
	sums, _ := s.Sources()
	if len(sums) != 1 || sums[0].Messages != 3 {
		t.Fatalf("source summary %+v", sums)
	}
	mustCheck(t, s)
}

func TestDeliverNeedsAJournalist(t *testing.T) {
	s, _ := newTestStore(t)
	ref := putBlob(t, s, []byte("x"))
	if err := s.Deliver(Delivery{Blob: ref}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deliver with no journalists: %v", err)
	}
	mustCheck(t, s)
}

func TestMailboxHierarchyRenameDelete(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	if err := s.CreateMailbox("ana", "Projects/Leaks/2026"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Projects", "Projects/Leaks", "Projects/Leaks/2026"} {
		m, err := s.Mailbox("ana", n)
		if err != nil || m.Subscribed {
			t.Fatalf("%s: %+v %v", n, m, err)
		}
	}
	if err := s.CreateMailbox("ana", "Projects"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", "a*", "a%", "a\x00b", "\xff"} {
		if err := s.CreateMailbox("ana", bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	// Names that sort between "Projects" and "Projects/" must not hide the inferiors.
	for _, n := range []string{"Projects 2", "Projects-old"} {
		if err := s.CreateMailbox("ana", n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetSubscribed("ana", "Projects/Leaks", true); err != nil {
		t.Fatal(err)
	}
	ref := putBlob(t, s, []byte("m"))
	if err := s.Deliver(Delivery{Blob: ref, Mailbox: "Projects/Leaks"}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Mailbox("ana", "Projects/Leaks")

	if err := s.RenameMailbox("ana", "Projects", "Sent"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := s.RenameMailbox("ana", "Projects", "Projects/Sub"); err == nil {
		t.Fatal("rename into itself accepted")
	}
	if err := s.RenameMailbox("ana", "Projects", "Old/Work"); err != nil {
		t.Fatal(err)
	}
	var names []string
	mbs, _ := s.Mailboxes("ana")
	for _, m := range mbs {
		names = append(names, m.Name)
	}
	want := []string{"Archive", "Drafts", "INBOX", "Junk", "Old", "Old/Work", "Old/Work/Leaks", "Old/Work/Leaks/2026", "Projects 2", "Projects-old", "Sent", "Trash"}
	if !slices.Equal(names, want) {
		t.Fatalf("after rename %v", names)
	}
	moved, _ := s.Mailbox("ana", "Old/Work/Leaks")
	if moved.UIDValidity != before.UIDValidity || moved.UIDNext != before.UIDNext || moved.Count != 1 || !moved.Subscribed {
		t.Fatalf("renamed mailbox %+v, was %+v", moved, before)
	}

	if err := s.DeleteMailbox("ana", "inbox"); err == nil {
		t.Fatal("deleted INBOX")
	}
	if err := s.DeleteMailbox("ana", "Old/Work/Leaks"); err != nil {
		t.Fatal(err)
	}
	if blobExists(t, s, ref.ID) {
		t.Fatal("blob of deleted mailbox remains")
	}
	if _, err := s.Mailbox("ana", "Old/Work/Leaks/2026"); err != nil {
		t.Fatalf("inferior deleted too: %v", err)
	}
	// Re-creating a deleted name gives a fresh mailbox.
	if err := s.CreateMailbox("ana", "Old/Work/Leaks"); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Mailbox("ana", "Old/Work/Leaks")
	if again.UIDNext != 1 || again.Count != 0 {
		t.Fatalf("recreated %+v", again)
	}
	mustCheck(t, s)
}

func TestRenameInboxMovesMessages(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	for i := 0; i < 2; i++ {
		if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte{byte(i)})}); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := s.Mailbox("ana", "INBOX")
	if err := s.RenameMailbox("ana", "INBOX", "Old Inbox"); err != nil {
		t.Fatal(err)
	}
	inbox, _ := s.Mailbox("ana", "INBOX")
	moved, _ := s.Mailbox("ana", "Old Inbox")
	if inbox.Count != 0 || inbox.UIDNext != 1 || inbox.UIDValidity == 0 || inbox.UIDValidity == old.UIDValidity {
		t.Fatalf("INBOX after rename %+v", inbox)
	}
	if moved.Count != 2 || moved.UIDNext != 3 {
		t.Fatalf("moved %+v", moved)
	}
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("new"))}); err != nil {
		t.Fatal(err)
	}
	if got := uids(messages(t, s, "ana", "INBOX")); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("INBOX uids %v", got)
	}
	mustCheck(t, s)
}

func TestSetFlagsAndExpungeDeleted(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	addJournalist(t, s, "bob")
	var refs []BlobRef
	for i := 0; i < 3; i++ {
		ref := putBlob(t, s, []byte{byte(i)})
		refs = append(refs, ref)
		if err := s.Deliver(Delivery{Blob: ref}); err != nil {
			t.Fatal(err)
		}
	}
	flags := func(j string) [][]string {
		var out [][]string
		for _, m := range messages(t, s, j, "INBOX") {
			out = append(out, m.Flags)
		}
		return out
	}
	if err := s.SetFlags("ana", "INBOX", []uint32{1, 2, 99}, FlagAdd, []string{`\SEEN`, "$Important"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFlags("ana", "INBOX", []uint32{2}, FlagRemove, []string{`\seen`}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFlags("ana", "INBOX", []uint32{3}, FlagSet, []string{`\Deleted`, `\Flagged`}); err != nil {
		t.Fatal(err)
	}
	got := flags("ana")
	want := [][]string{{"$Important", `\Seen`}, {"$Important"}, {`\Deleted`, `\Flagged`}}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("flags %q, want %q", got, want)
		}
	}
	for _, f := range flags("bob") {
		if len(f) != 0 {
			t.Fatal("flags leaked to another journalist")
		}
	}
	if err := s.Expunge("ana", "INBOX", nil); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(t, s, "ana", "INBOX")); n != 3 {
		t.Fatalf("Expunge(nil) removed messages: %d left", n)
	}
	if err := s.Expunge("ana", "INBOX", []uint32{3, 42}); err != nil {
		t.Fatal(err)
	}
	if got := uids(messages(t, s, "ana", "INBOX")); !slices.Equal(got, []uint32{1, 2}) {
		t.Fatalf("after expunge %v", got)
	}
	if !blobExists(t, s, refs[2].ID) {
		t.Fatal("blob removed while bob still has it")
	}
	if err := s.Expunge("bob", "INBOX", []uint32{3}); err != nil {
		t.Fatal(err)
	}
	if blobExists(t, s, refs[2].ID) {
		t.Fatal("blob kept after last reference expunged")
	}
	mustCheck(t, s)
}

// MailboxHead and MailboxHeads are Mailbox and Mailboxes without the
// counts: every other field the same, the name normalised the same way.
func TestMailboxHeadsAreMailboxesWithoutCounts(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	for range 3 {
		if _, err := s.Append("ana", "INBOX", putBlob(t, s, []byte("m")), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ClaimRecent("ana", "INBOX", 1); err != nil {
		t.Fatal(err)
	}
	full, err := s.Mailbox("ana", "inbox")
	if err != nil {
		t.Fatal(err)
	}
	if full.Count != 3 || full.Recent != 2 {
		t.Fatalf("Mailbox counts %d, %d recent; want 3, 2", full.Count, full.Recent)
	}
	head, err := s.MailboxHead("ana", "inbox")
	if err != nil {
		t.Fatal(err)
	}
	uncounted := full
	uncounted.Count, uncounted.Recent = 0, 0
	if head != uncounted {
		t.Fatalf("MailboxHead %+v, want %+v", head, uncounted)
	}
	if _, err := s.MailboxHead("ana", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing mailbox: %v", err)
	}
	all, err := s.Mailboxes("ana")
	if err != nil {
		t.Fatal(err)
	}
	heads, err := s.MailboxHeads("ana")
	if err != nil || len(heads) != len(all) {
		t.Fatalf("%d heads, %d mailboxes (%v)", len(heads), len(all), err)
	}
	for i := range all {
		all[i].Count, all[i].Recent = 0, 0
		if heads[i] != all[i] {
			t.Errorf("head %+v, mailbox %+v", heads[i], all[i])
		}
	}
}

package store

import "testing"

// TestClaimRecentOnce protects \Recent's "one session only": the first claim
// takes the messages above the mark, a second claim of the same range gets
// nothing, STATUS's count follows the mark, and the mark survives a restart.
func TestClaimRecentOnce(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	for i := 0; i < 3; i++ {
		if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("m"))}); err != nil {
			t.Fatal(err)
		}
	}
	mb, err := s.Mailbox("ana", "INBOX")
	if err != nil || mb.Recent != 3 || mb.RecentUID != 0 {
		t.Fatalf("before any claim: %+v %v", mb, err)
	}
	if prev, err := s.ClaimRecent("ana", "INBOX", 2); err != nil || prev != 0 {
		t.Fatalf("first claim: prev %d %v", prev, err)
	}
	if prev, err := s.ClaimRecent("ana", "INBOX", 2); err != nil || prev != 2 {
		t.Fatalf("second claim of the same range: prev %d %v (want 2: nothing claimed)", prev, err)
	}
	if mb, _ := s.Mailbox("ana", "INBOX"); mb.Recent != 1 || mb.RecentUID != 2 {
		t.Fatalf("after claiming 2: %+v", mb)
	}
	s = reopen(t, s)
	if prev, err := s.ClaimRecent("ana", "INBOX", 3); err != nil || prev != 2 {
		t.Fatalf("claim after restart: prev %d %v", prev, err)
	}
	if mb, _ := s.Mailbox("ana", "INBOX"); mb.Recent != 0 {
		t.Fatalf("after claiming all: %+v", mb)
	}
	if _, err := s.ClaimRecent("ana", "Nope", 1); err == nil {
		t.Fatal("claim in a missing mailbox succeeded")
	}
}

package imapd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"postern/mailbox/delivery"
	"postern/mailbox/store"
)

// A submission to a desk is seen over IMAP by that desk's journalists only:
// the other desk's journalist finds an empty INBOX (SELECT, SEARCH, STATUS
// agree), and the desk's journalist sees the desk in the To of the
// envelope, which is what Thunderbird's recipient column shows.
func TestDeskSubmissionInvisibleToOtherDesks(t *testing.T) {
	e := newEnv(t)
	e.addJournalist("alice")
	e.addJournalist("bob")
	if err := e.st.AddDesk(store.Desk{Slug: "investigations", Title: "Investigations", Journalists: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UnassignJournalist(store.DefaultDesk, "alice"); err != nil {
		t.Fatal(err)
	}
	src := store.Source{ID: bytes.Repeat([]byte{3}, 32), Designation: "quixotic tangerine",
		Address: "qt@relay.example", ThreadID: "<root@relay.example>", Desk: "investigations"}
	if err := e.st.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	d := delivery.New(delivery.Options{Store: e.st, Domain: "relay.example"})
	ctx := context.Background()
	tx, err := d.Start(ctx, delivery.Submission{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Text(strings.Repeat("A tip of a few kilobytes. ", 300)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	b := e.login(t, "bob", nil)
	sel, err := b.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 0 {
		t.Errorf("bob, off the desk, has %d messages in INBOX", sel.NumMessages)
	}
	found, err := b.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil || len(found.AllUIDs()) != 0 {
		t.Errorf("bob's SEARCH ALL: %v %v", found, err)
	}

	a := e.login(t, "alice", nil)
	st, err := a.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil || *st.NumMessages != 1 {
		t.Fatalf("alice's INBOX status: %+v %v", st, err)
	}
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m, err := a.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(m) != 1 {
		t.Fatalf("alice: %v %d", err, len(m))
	}
	to := m[0].Envelope.To
	if len(to) != 1 || to[0].Name != "Investigations" || to[0].Addr() != "investigations@relay.example" {
		t.Errorf("envelope To %+v, want the desk", to)
	}
}

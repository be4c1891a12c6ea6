package admin

import (
	"context"
	"testing"
	"time"

	"postern/mailbox/store"
)

// A desk's retention overrides retention_days (90 in the fixture): a desk
// that keeps 3 days loses its mail first, a desk that keeps forever never.
func TestDeskRetentionOverridesTheInstances(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "ana")
	plain, short, kept := f.newSource(t), f.newSource(t), f.newSource(t) // on the one desk, newsroom
	three, forever := 3, store.RetentionForever
	title := "T"
	for slug, days := range map[string]*int{"short": &three, "keep": &forever} {
		if _, err := f.a.Desk(ctx, DeskRequest{Op: "add", Slug: slug, Title: &title, RetentionDays: days}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.Desk(ctx, DeskRequest{Op: "assign", Slug: slug, Journalist: "ana"}); err != nil {
			t.Fatal(err)
		}
	}
	for src, slug := range map[*testSource]string{short: "short", kept: "keep"} {
		if _, err := f.a.Desk(ctx, DeskRequest{Op: "move", Slug: slug, Designation: src.rec.Designation}); err != nil {
			t.Fatal(err)
		}
	}
	for _, src := range []*testSource{plain, short, kept} {
		f.submit(t, src, "day 0")
	}
	inbox := func() int {
		msgs, err := f.a.Store().Messages("ana", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	}
	f.clock.Add(5 * 24 * time.Hour)
	if rs, err := f.a.RetentionStatus(ctx); err != nil || rs.Overdue.Messages != 1 {
		t.Fatalf("day 5 status: %+v %v", rs, err)
	}
	if n, err := f.a.RunRetention(ctx); err != nil || n.Messages != 1 || inbox() != 2 {
		t.Fatalf("day 5 pass: %+v %v; %d left", n, err, inbox())
	}
	f.clock.Add(100 * 24 * time.Hour)
	if n, err := f.a.RunRetention(ctx); err != nil || n.Messages != 1 || inbox() != 1 {
		t.Fatalf("day 105 pass: %+v %v; %d left", n, err, inbox())
	}
	msgs, _ := f.a.Store().Messages("ana", "INBOX")
	if string(msgs[0].SourceID) != string(kept.rec.ID) {
		t.Error("the message kept is not the forever desk's")
	}
}

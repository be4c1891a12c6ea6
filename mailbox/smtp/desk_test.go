package smtpd

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"postern/mailbox/store"
)

// A journalist who is not on the source's desk cannot reply to it, and is
// told why; the team copy of a reply from the desk reaches only the desk.
func TestReplyOnlyFromTheSourcesDesk(t *testing.T) {
	e := newEnv(t)
	if err := e.st.AddDesk(store.Desk{Slug: "politics", Title: "Politics", Journalists: []string{"alice", "jane"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.MoveSource(e.src.ID, "politics"); err != nil {
		t.Fatal(err)
	}
	const marker = "ZQXDESKREPLY"
	err := e.send("bob", e.src.Address, thunderbirdPlain(e.src.Address, marker, e.keys["bob"]))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || !strings.Contains(se.Message, "not on this source's desk") {
		t.Fatalf("bob's reply to a politics source: %v, want 550 not on the desk", err)
	}
	if reps := e.replies(); len(reps) != 0 {
		t.Fatalf("%d replies stored from off the desk", len(reps))
	}
	if err := e.send("jane", e.src.Address, thunderbirdPlain(e.src.Address, marker, e.keys["jane"])); err != nil {
		t.Fatalf("jane (on the desk): %v", err)
	}
	if reps := e.replies(); len(reps) != 1 {
		t.Fatalf("%d replies stored, want 1", len(reps))
	}
	if got := e.inbox("alice"); len(got) != 1 {
		t.Errorf("alice (on the desk) got %d team copies, want 1", len(got))
	}
	if got := e.inbox("bob"); len(got) != 0 {
		t.Errorf("bob (off the desk) got %d team copies", len(got))
	}
}

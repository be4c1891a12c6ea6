package imapd

import (
	"strings"
	"testing"
)

// confRecent protects \Recent (RFC 3501 2.3.2): a message is recent to one
// session only, the first to SELECT its mailbox after it arrived, or the one
// that had it selected when it arrived; EXAMINE sees without claiming.
func confRecent(t *testing.T, tg target, box string) {
	a := confLogin(t, tg)
	a.cmd("CREATE " + box)
	a.appendMsg(box, "", sampleMessage("recent one", 4<<10))
	a.appendMsg(box, `\Seen`, sampleMessage("recent two", 12<<10))
	if st := find(a.cmd("STATUS "+box+" (MESSAGES RECENT)"), "* STATUS"); !strings.Contains(st, "RECENT 2") {
		t.Errorf("STATUS before any SELECT: %s, want RECENT 2", st)
	}

	// EXAMINE shows the unclaimed messages as recent and takes nothing.
	ex := confLogin(t, tg)
	if l := ex.cmd("EXAMINE " + box); find(l, "* 2 RECENT") == "" {
		t.Errorf("EXAMINE: %q, want * 2 RECENT", l)
	}

	// The first SELECT claims both.
	if l := a.cmd("SELECT " + box); find(l, "* 2 RECENT") == "" {
		t.Errorf("first SELECT: %q, want * 2 RECENT", l)
	}
	if l := a.cmd("FETCH 1:* (FLAGS)"); len(l) != 2 || !strings.Contains(l[0], `\Recent`) || !strings.Contains(l[1], `\Recent`) {
		t.Errorf("FETCH FLAGS in the claiming session: %q", l)
	}
	wantSearch(t, a, "SEARCH RECENT", "1 2")
	wantSearch(t, a, "SEARCH NEW", "1")
	wantSearch(t, a, "SEARCH OLD", "")
	// \Recent cannot be stored, and STORE answers with it kept.
	if l := a.cmd(`STORE 1 +FLAGS (\Flagged)`); len(l) != 1 || !strings.Contains(l[0], `\Recent`) || !strings.Contains(l[0], `\Flagged`) {
		t.Errorf("STORE answer: %q", l)
	}

	// A later session sees them as not recent.
	b := confLogin(t, tg)
	if l := b.cmd("SELECT " + box); find(l, "* 0 RECENT") == "" {
		t.Errorf("second SELECT: %q, want * 0 RECENT", l)
	}
	if l := b.cmd("FETCH 1:* (FLAGS)"); strings.Contains(strings.Join(l, " "), `\Recent`) {
		t.Errorf("FETCH FLAGS in a later session: %q", l)
	}
	wantSearch(t, b, "SEARCH OLD", "1 2")
	wantSearch(t, b, "SEARCH RECENT", "")
	if st := find(confLogin(t, tg).cmd("STATUS "+box+" (RECENT)"), "* STATUS"); !strings.Contains(st, "RECENT 0") {
		t.Errorf("STATUS after the claim: %s, want RECENT 0", st)
	}

	// A message arriving while the mailbox is selected is recent to the
	// session that had it selected, which is told with * n RECENT.
	b.cmd("LOGOUT")
	a.send("i IDLE\r\n")
	if l := a.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	confLogin(t, tg).appendMsg(box, "", sampleMessage("recent three", 6<<10))
	a.waitFor("* 3 EXISTS")
	a.waitFor("* 3 RECENT")
	a.send("DONE\r\n")
	a.tagged("i")
	if l := a.cmd("FETCH 3 (FLAGS)"); len(l) != 1 || !strings.Contains(l[0], `\Recent`) {
		t.Errorf("FETCH FLAGS of the new message: %q", l)
	}
	c := confLogin(t, tg)
	if l := c.cmd("SELECT " + box); find(l, "* 0 RECENT") == "" {
		t.Errorf("SELECT after the idling session took the new message: %q", l)
	}
	a.cmd("CLOSE")
	c.cmd("CLOSE")
	c.cmd("DELETE " + box)
}

// wantSearch runs a SEARCH and compares its numbers.
func wantSearch(t *testing.T, r *conn, cmd, want string) {
	t.Helper()
	got := strings.TrimSpace(strings.TrimPrefix(find(r.cmd(cmd), "* SEARCH"), "* SEARCH"))
	if got != want {
		t.Errorf("%s: %q, want %q", cmd, got, want)
	}
}

// TestStoreAnswersOnceKeepingRecent protects the STORE path from a race
// with the store-event worker: the worker's resync used to queue the
// session's own flag change back to it as an unsolicited FETCH, without
// the \Recent of its answer, so a client was told the flag was gone.
func TestStoreAnswersOnceKeepingRecent(t *testing.T) {
	e := newEnv(t, "alice")
	e.deliver(t, sampleMessage("store race", 8<<10))
	a := confLogin(t, target{Addr: e.addr, User: "alice", Password: e.pass["alice"]})
	a.cmd("SELECT INBOX")
	for i := 0; i < 100; i++ {
		op := "+"
		if i%2 == 1 {
			op = "-"
		}
		l := a.cmd(`STORE 1 ` + op + `FLAGS (\Flagged)`)
		l = append(l, a.cmd("NOOP")...)
		if len(l) != 1 || !strings.Contains(l[0], `\Recent`) {
			t.Fatalf("STORE %d answered %q, want one FETCH with \\Recent", i, l)
		}
	}
}

// confRecentInFlagUpdates protects \Recent in the FETCH FLAGS a session is
// sent when another session changes a message's flags: the flag is the
// receiving session's own state, so the claimer's update carries it and
// the other session's does not (RFC 3501 2.3.2, 7.4.2).
func confRecentInFlagUpdates(t *testing.T, tg target, box string) {
	a := confLogin(t, tg)
	a.cmd("CREATE " + box)
	a.appendMsg(box, "", sampleMessage("recent flag update", 7<<10))
	if l := a.cmd("SELECT " + box); find(l, "* 1 RECENT") == "" {
		t.Fatalf("SELECT: %q, want * 1 RECENT", l)
	}
	b := confLogin(t, tg)
	b.cmd("SELECT " + box)
	b.cmd(`STORE 1 +FLAGS.SILENT (\Flagged)`)
	if f := find(a.cmd("NOOP"), "* 1 FETCH"); !strings.Contains(f, `\Flagged`) || !strings.Contains(f, `\Recent`) {
		t.Errorf("update in the session the message is recent to: %q, want \\Flagged and \\Recent", f)
	}
	a.cmd(`STORE 1 +FLAGS.SILENT (\Seen)`)
	if f := find(b.cmd("NOOP"), "* 1 FETCH"); !strings.Contains(f, `\Seen`) || strings.Contains(f, `\Recent`) {
		t.Errorf("update in the other session: %q, want \\Seen without \\Recent", f)
	}
	a.cmd("CLOSE")
	b.cmd("CLOSE")
	a.cmd("DELETE " + box)
}

package imapd

import (
	"strings"
	"testing"
)

// confBadMailboxName protects the answers to a mailbox name in invalid
// modified UTF-7: NO where a mailbox is named, OK with nothing to LIST.
func confBadMailboxName(t *testing.T, tg target, box string) {
	a := confLogin(t, tg)
	for _, name := range []string{"a&", "a&Jjo", "&AGE-"} {
		q := imapQuote(name)
		for _, c := range []string{"SELECT " + q, "EXAMINE " + q, "CREATE " + q, "STATUS " + q + " (MESSAGES)", "DELETE " + q, "RENAME " + q + " b"} {
			if _, st := a.try(c); !strings.HasPrefix(st, "NO") {
				t.Errorf("%s: %s, want NO", c, st)
			}
		}
		for _, c := range []string{`LIST "" ` + q, `LSUB "" ` + q} {
			if l, st := a.try(c); !strings.HasPrefix(st, "OK") || len(l) != 0 {
				t.Errorf("%s: %q %s, want OK and nothing listed", c, l, st)
			}
		}
	}
	// A valid name with "&" still works.
	a.cmd("CREATE " + imapQuote(box+"-&AOk-t&AOk-"))
	a.cmd("DELETE " + imapQuote(box+"-&AOk-t&AOk-"))
}

// confMoveWithinMailbox protects MOVE into the selected mailbox itself,
// which Dovecot performs: the messages get new UIDs.
func confMoveWithinMailbox(t *testing.T, tg target, box string) {
	a := confLogin(t, tg)
	a.cmd("CREATE " + box)
	a.appendMsg(box, "", sampleMessage("move self one", 3<<10))
	a.appendMsg(box, "", sampleMessage("move self two", 7<<10))
	a.cmd("SELECT " + box)
	l := a.cmd("UID MOVE 1 " + box)
	if c := find(l, "* OK [COPYUID"); !strings.Contains(c, " 1 3]") {
		t.Errorf("UID MOVE within the mailbox: %q, want COPYUID 1 3", l)
	}
	wantSearch(t, a, "UID SEARCH ALL", "2 3")
	a.cmd("CLOSE")
	a.cmd("DELETE " + box)
}

package imapd

import (
	"strings"
	"testing"
)

// confEnvelopeAddresses protects ENVELOPE address lists (groups with their
// markers, empty groups, routes, obsolete comments) and SEARCH FROM/TO on
// the same headers.
func confEnvelopeAddresses(t *testing.T, tg target, box string) {
	a := confLogin(t, tg)
	a.cmd("CREATE " + box)
	msgs := []string{
		"From: Team: a@x.org, \"B\" <b@y.org>;, c@z.org\r\nTo: undisclosed-recipients:;\r\n",
		"From: user (comment)@ (comment) dom.org\r\nTo: newsroom@example.org\r\n",
		"From: <@route.example:editor@dom.org>\r\nTo: newsroom@example.org\r\n",
	}
	for i, h := range msgs {
		body := strings.Repeat("QUFBQUFB\r\n", 300+i*100)
		a.appendMsg(box, "", h+"Subject: envelope\r\nMessage-ID: <env"+string(rune('0'+i))+"@example.org>\r\n\r\n"+body)
	}
	a.cmd("SELECT " + box)
	l := a.cmd("FETCH 1:3 (ENVELOPE)")
	if len(l) != 3 {
		t.Fatalf("FETCH ENVELOPE: %q", l)
	}
	wants := [][]string{
		{`((NIL NIL "Team" NIL)(NIL NIL "a" "x.org")("B" NIL "b" "y.org")(NIL NIL NIL NIL)(NIL NIL "c" "z.org"))`,
			`((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`},
		{`(("comment" NIL "user" "dom.org"))`},
		{`"editor" "dom.org"))`},
	}
	for i, w := range wants {
		// go-imap puts a space between the addresses of a list, which
		// RFC 3501's grammar does not have (clients take both).
		got := strings.ReplaceAll(l[i], ") (", ")(")
		for _, s := range w {
			if !strings.Contains(got, s) {
				t.Errorf("ENVELOPE of message %d: %s\nwant it to contain %s", i+1, l[i], s)
			}
		}
	}
	wantSearch(t, a, `SEARCH FROM "team"`, "1")
	wantSearch(t, a, `SEARCH FROM "b@y.org"`, "1")
	wantSearch(t, a, `SEARCH FROM "dom.org"`, "2 3")
	wantSearch(t, a, `SEARCH FROM "route.example"`, "3")
	wantSearch(t, a, `SEARCH TO "undisclosed"`, "1")
	a.cmd("CLOSE")
	a.cmd("DELETE " + box)
}

package structure

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// env writes addresses the way ENVELOPE lists them, for comparison.
func env(l []imap.Address) string {
	if len(l) == 0 {
		return "NIL"
	}
	var b strings.Builder
	b.WriteByte('(')
	ns := func(s string) string {
		if s == "" {
			return "NIL"
		}
		return fmt.Sprintf("%q", s)
	}
	for _, a := range l {
		fmt.Fprintf(&b, "(%s NIL %s %s)", ns(a.Name), ns(a.Mailbox), ns(a.Host))
	}
	b.WriteByte(')')
	return b.String()
}

// TestAddressListGroupsAndObsoleteSyntax protects ENVELOPE addresses:
// groups with their markers, empty groups, routes and obsolete comments
// (which net/mail refuses, giving a NIL From), as Dovecot lists them.
func TestAddressListGroupsAndObsoleteSyntax(t *testing.T) {
	rows := []struct{ in, want string }{
		{`Team: a@x.org, "B" <b@y.org>;, c@z.org`, `((NIL NIL "Team" NIL)(NIL NIL "a" "x.org")("B" NIL "b" "y.org")(NIL NIL NIL NIL)(NIL NIL "c" "z.org"))`},
		{`undisclosed-recipients:;`, `((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`},
		{`<@route.x:user@dom.org>`, `((NIL NIL "user" "dom.org"))`},
		{`"A B" <@r1,@r2:u@d.org>`, `(("A B" NIL "u" "d.org"))`},
		{`user (comment)@ (comment) dom.org`, `(("comment" NIL "user" "dom.org"))`},
		{`a@b.org (c) , ,d@e.org`, `(("c" NIL "a" "b.org")(NIL NIL "d" "e.org"))`},
		{`G: a@b.org`, `((NIL NIL "G" NIL)(NIL NIL "a" "b.org")(NIL NIL NIL NIL))`},
		{`<a@b.org> (Comment here)`, `((NIL NIL "a" "b.org"))`},
		{`A. B. <ab@c.org>`, `(("A. B." NIL "ab" "c.org"))`},
		{`=?utf-8?q?J=C3=B6rg?= <j@x.org>, "john doe"@x.org`, `(("Jörg" NIL "j" "x.org")(NIL NIL "john doe" "x.org"))`},
		{`=?utf-8?q?a?= =?utf-8?q?b?= <ab@x.org>`, `(("ab" NIL "ab" "x.org"))`},
		{`foo`, `((NIL NIL "foo" "MISSING_DOMAIN"))`},
		{`<>`, `((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`},
		{`user@`, `((NIL NIL "user" "MISSING_DOMAIN"))`},
		{`"Quixotic Tangerine" <qt@source.example>`, `(("Quixotic Tangerine" NIL "qt" "source.example"))`},
		{`john . doe @ example . org`, `((NIL NIL "john.doe" "example.org"))`},
		{`x@[192.0.2.1]`, `((NIL NIL "x" "[192.0.2.1]"))`},
		{``, `NIL`},
		{` , `, `NIL`},
	}
	for _, row := range rows {
		if got := env(parseAddressList(row.in)); got != row.want {
			t.Errorf("%s\n got %s\nwant %s", row.in, got, row.want)
		}
	}
}

// FuzzAddressList: any header value gives a well-formed list: every
// address is a group marker or has both a mailbox and a host, and group
// markers pair up without nesting.
func FuzzAddressList(f *testing.F) {
	for _, s := range []string{`a@b`, `G: a@b, c@d;`, `"x" <@r:a@b>`, `a (c) @ (d) b`, `((x)`, `"unterminated`, `<<a@b>>`, `:;`, `a:b:c;d;`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		group := false
		for _, a := range parseAddressList(v) {
			switch {
			case a.IsGroupStart():
				if group {
					t.Fatalf("%q: nested group", v)
				}
				group = true
			case a.IsGroupEnd():
				if !group {
					t.Fatalf("%q: group end without start", v)
				}
				group = false
			case a.Mailbox == "" || a.Host == "":
				t.Fatalf("%q: half an address %+v", v, a)
			}
		}
		if group {
			t.Fatalf("%q: group left open", v)
		}
	})
}

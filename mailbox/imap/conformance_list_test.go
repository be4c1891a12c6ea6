package imapd

import (
	"fmt"
	"strings"
	"testing"
)

// confLsubParents protects RFC 3501 6.3.9: LSUB with "%" lists the
// unsubscribed superior of a subscribed mailbox as \Noselect.
func confLsubParents(t *testing.T, tg target, p string) {
	a := confLogin(t, tg)
	a.cmd("CREATE " + p + "/a/b/c")
	a.cmd("CREATE " + p + "/x")
	for _, name := range []string{p, p + "/a", p + "/a/b"} {
		a.try("UNSUBSCRIBE " + name) // ours creates superiors, unsubscribed
	}
	a.cmd("SUBSCRIBE " + p + "/a/b/c")
	a.cmd("SUBSCRIBE " + p + "/x")
	lsub := func(ref, pat string) []string {
		var out []string
		for _, l := range a.cmd("LSUB " + imapQuote(ref) + " " + imapQuote(pat)) {
			l = strings.TrimPrefix(l, "* LSUB ")
			attrs, rest, _ := strings.Cut(l, ") ")
			noselect := strings.Contains(strings.ToLower(attrs), `\noselect`)
			name := strings.Trim(rest[strings.LastIndexByte(rest, ' ')+1:], `"`)
			if noselect {
				name += " noselect"
			}
			out = append(out, name)
		}
		return out
	}
	rows := []struct{ ref, pat, want string }{
		{"", p + "/%", p + "/a noselect, " + p + "/x"},
		{"", p + "/a/%", p + "/a/b noselect"},
		{"", p + "/*", p + "/a/b/c, " + p + "/x"},
		{p + "/", "%", p + "/a noselect, " + p + "/x"},
	}
	for _, row := range rows {
		if got := strings.Join(lsub(row.ref, row.pat), ", "); got != row.want {
			t.Errorf("LSUB %q %q: %s, want %s", row.ref, row.pat, got, row.want)
		}
	}
	for _, name := range []string{p + "/a/b/c", p + "/a/b", p + "/a", p + "/x", p} {
		a.try("UNSUBSCRIBE " + name)
		a.try("DELETE " + name)
	}
}

// confListStatus protects LIST-STATUS (RFC 5819): LIST ... RETURN (STATUS
// ...) carries each listed mailbox's counts (a plain LIST reads none).
func confListStatus(t *testing.T, tg target, p string) {
	a := confLogin(t, tg)
	a.cmd("CREATE " + p)
	defer a.try("DELETE " + p)
	for i := range 3 {
		a.appendMsg(p, "", fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))
	}
	lines := a.cmd("LIST \"\" " + imapQuote(p) + " RETURN (STATUS (MESSAGES UIDNEXT UNSEEN))")
	st := find(lines, "* STATUS ")
	for _, want := range []string{"MESSAGES 3", "UIDNEXT 4", "UNSEEN 3"} {
		if !strings.Contains(st, want) {
			t.Errorf("LIST-STATUS: %q lacks %s (lines %q)", st, want, lines)
		}
	}
	if find(lines, "* LIST ") == "" {
		t.Errorf("LIST-STATUS: no LIST line in %q", lines)
	}
}

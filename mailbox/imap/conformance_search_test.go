package imapd

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// confSearchSize protects SEARCH's SMALLER when a LARGER or date key
// follows it (go-imap's SearchCriteria.And drops it; searchfix.go).
func confSearchSize(t *testing.T, tg target, box string) {
	a := confLogin(t, tg)
	a.cmd("CREATE " + box)
	a.appendMsg(box, "", sampleMessage("size small", 4<<10))
	a.appendMsg(box, "", sampleMessage("size large", 40<<10))
	a.cmd("SELECT " + box)
	s1, s2 := rfc822Size(t, a, 1), rfc822Size(t, a, 2)
	rows := []struct{ search, want string }{
		{fmt.Sprintf("SMALLER %d LARGER %d", s1+1, s1-1), "1"},
		{fmt.Sprintf("SMALLER %d LARGER 100", s1), ""},
		{fmt.Sprintf("SMALLER %d SINCE 1-Jan-2000", s2), "1"},
		{fmt.Sprintf("SMALLER %d BEFORE 1-Jan-2000", s2), ""},
		{fmt.Sprintf("(SMALLER %d LARGER 100)", s2), "1"},
		{fmt.Sprintf("UID SEARCH SMALLER %d LARGER 100", s2), "1"},
		{"SMALLER 0", ""},
		// A SMALLER that is another key's argument is not a key.
		{fmt.Sprintf("OR HEADER X-Nothing SMALLER SMALLER %d", s2+1), "1 2"},
		{fmt.Sprintf(`OR HEADER X-Nothing "SMALLER 5" LARGER %d`, s1), "2"},
	}
	for _, row := range rows {
		cmd := row.search
		if !strings.HasPrefix(cmd, "UID ") {
			cmd = "SEARCH " + cmd
		}
		wantSearch(t, a, cmd, row.want)
	}
	a.cmd("CLOSE")
	a.cmd("DELETE " + box)
}

func rfc822Size(t *testing.T, r *conn, seq int) int64 {
	t.Helper()
	l := find(r.cmd(fmt.Sprintf("FETCH %d (RFC822.SIZE)", seq)), "* ")
	_, v, _ := strings.Cut(l, "RFC822.SIZE ")
	n, err := strconv.ParseInt(strings.TrimRight(v, ")"), 10, 64)
	if err != nil {
		t.Fatalf("RFC822.SIZE in %q", l)
	}
	return n
}

// TestSearchFixRewritesOnlySmallerKeys pins the rewrite itself: keys in
// every position, and the arguments, strings and literals it must leave.
func TestSearchFixRewritesOnlySmallerKeys(t *testing.T) {
	rows := []struct{ in, want string }{
		{"a SEARCH SMALLER 10 LARGER 5", "a SEARCH NOT LARGER 9 LARGER 5"},
		{"a UID SEARCH smaller 10", "a UID SEARCH NOT LARGER 9"},
		{"a SEARCH SMALLER 0", "a SEARCH NOT ALL"},
		{"a SEARCH RETURN (MIN) CHARSET UTF-8 (SMALLER 3 SINCE 1-Jan-2020)", "a SEARCH RETURN (MIN) CHARSET UTF-8 (NOT LARGER 2 SINCE 1-Jan-2020)"},
		{"a SEARCH OR SMALLER 7 NOT SMALLER 2", "a SEARCH OR NOT LARGER 6 NOT NOT LARGER 1"},
		{"a SEARCH SUBJECT SMALLER 5", "a SEARCH SUBJECT SMALLER 5"},
		{`a SEARCH HEADER SMALLER SMALLER SMALLER 5`, `a SEARCH HEADER SMALLER SMALLER NOT LARGER 4`},
		{`a SEARCH TEXT "SMALLER 5" SMALLER 5`, `a SEARCH TEXT "SMALLER 5" NOT LARGER 4`},
		{`a SEARCH TEXT "a \" SMALLER 5" ALL`, `a SEARCH TEXT "a \" SMALLER 5" ALL`},
		{"a SEARCH SMALLER x", "a SEARCH SMALLER x"},
		{"a SEARCH SMALLER -1", "a SEARCH SMALLER -1"},
		{"a SEARCH SMALLER 99999999999999999999", "a SEARCH SMALLER 99999999999999999999"},
		{"a FETCH 1 (SMALLER 5)", "a FETCH 1 (SMALLER 5)"},
		{"a SEARCH BODY {5}", "a SEARCH BODY {5}"},
	}
	for _, row := range rows {
		var f searchFix
		words := [3][]byte{}
		for i, w := range strings.SplitN(row.in, " ", 4)[:3] {
			words[i] = []byte(w)
		}
		f.start(words)
		if got := string(f.fix([]byte(row.in + "\r\n"))); got != row.want+"\r\n" {
			t.Errorf("%s\n got %q\nwant %q", row.in, got, row.want+"\r\n")
		}
	}
	// Across a literal: the continuation line keeps the state.
	var f searchFix
	f.start([3][]byte{[]byte("a"), []byte("SEARCH"), []byte("SUBJECT")})
	f.fix([]byte("a SEARCH SUBJECT {7}\r\n"))
	if got := string(f.fix([]byte(" SMALLER 5 HEADER X {3}\r\n"))); got != " NOT LARGER 4 HEADER X {3}\r\n" {
		t.Errorf("continuation: %q", got)
	}
	if got := string(f.fix([]byte(" SMALLER 5\r\n"))); got != " NOT LARGER 4\r\n" {
		t.Errorf("after a HEADER literal: %q", got)
	}
}

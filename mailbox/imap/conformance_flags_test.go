package imapd

import (
	"strings"
	"testing"
)

// confKeywords protects FLAGS and PERMANENTFLAGS with the keywords in use,
// and the untagged FLAGS that announces a new one to every session.
func confKeywords(t *testing.T, tg target, box string) {
	a := confLogin(t, tg)
	a.cmd("CREATE " + box)
	a.appendMsg(box, "$label1", sampleMessage("keyword one", 3<<10))
	a.appendMsg(box, "", sampleMessage("keyword two", 5<<10))
	l := a.cmd("SELECT " + box)
	if f := find(l, "* FLAGS"); !strings.Contains(f, "$label1") {
		t.Errorf("SELECT FLAGS without the keyword in use: %s", f)
	}
	if f := find(l, "* OK [PERMANENTFLAGS"); !strings.Contains(f, "$label1") || !strings.Contains(f, `\*`) {
		t.Errorf("SELECT PERMANENTFLAGS: %s, want $label1 and \\*", f)
	}
	b := confLogin(t, tg)
	b.cmd("SELECT " + box)
	got := a.cmd("STORE 2 +FLAGS (NewKeyword)")
	got = append(got, a.cmd("NOOP")...)
	if f := find(got, "* FLAGS"); !strings.Contains(f, "NewKeyword") || !strings.Contains(f, "$label1") {
		t.Errorf("the storing session was not told the new FLAGS: %q", got)
	}
	if f := find(b.cmd("NOOP"), "* FLAGS"); !strings.Contains(f, "NewKeyword") {
		t.Errorf("another session was not told the new FLAGS: %q", f)
	}
	// A keyword already listed is not announced again.
	a.cmd("STORE 1 +FLAGS (NewKeyword)")
	if f := find(b.cmd("NOOP"), "* FLAGS"); f != "" {
		t.Errorf("FLAGS announced again for a known keyword: %s", f)
	}
	a.cmd("CLOSE")
	b.cmd("CLOSE")
	a.cmd("DELETE " + box)
}

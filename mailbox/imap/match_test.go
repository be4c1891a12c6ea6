package imapd

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapserver"
)

// matchList agrees with go-imap's MatchList on small inputs, and stays fast
// where that one backtracks for seconds.
func TestMatchListAgreesWithLibrary(t *testing.T) {
	names := []string{"INBOX", "Sent", "a", "a/b", "a/b/c", "ab", "a/bc", "x/a/b", "", "aaa/aaa", "%", "a*b"}
	refs := []string{"", "a", "a/", "x", "/"}
	pats := []string{"*", "%", "a*", "a%", "a/%", "a/*", "*b", "%b", "%/%", "*/*", "", "a", "/a", "a%c", "*a*", "%%", "a/b", "INBOX", "*%*"}
	for _, n := range names {
		for _, r := range refs {
			for _, p := range pats {
				if got, want := matchList(n, r, p), imapserver.MatchList(n, delim, r, p); got != want {
					t.Errorf("matchList(%q, %q, %q) = %v, library says %v", n, r, p, got, want)
				}
			}
		}
	}
}

func FuzzMatchList(f *testing.F) {
	f.Add("a/b/c", "a", "%/*")
	f.Add("INBOX", "", "*")
	f.Fuzz(func(t *testing.T, name, ref, pat string) {
		if len(name)+len(ref)+len(pat) > 24 || strings.Count(pat, "*")+strings.Count(pat, "%") > 4 {
			return // the library's own matcher is exponential beyond this
		}
		if got, want := matchList(name, ref, pat), imapserver.MatchList(name, delim, ref, pat); got != want {
			t.Fatalf("matchList(%q, %q, %q) = %v, library says %v", name, ref, pat, got, want)
		}
	})
}

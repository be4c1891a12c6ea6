package imapd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"postern/tools/dovecot"
)

// The conformance rows of issue 13 (\Recent, SEARCH, LSUB, ENVELOPE,
// keywords, mailbox names), run against ours and against Dovecot: what a
// row expects, the reference server does too. Rows speak raw IMAP where
// the client library would hide the wire (RECENT responses, \Noselect,
// FLAGS updates).

func TestConformance(t *testing.T) {
	e := newEnv(t, "alice")
	runConformance(t, target{Addr: e.addr, User: "alice", Password: e.pass["alice"]})
}

func TestConformanceDovecot(t *testing.T) {
	bin := needTool(t, "dovecot") // first: -short must not hide a missing Dovecot under CI
	if testing.Short() {
		t.Skip("short")
	}
	dv := startDovecot(t, bin)
	runConformance(t, target{Addr: dv.Addr, User: "alice", Password: dovecot.Password})
}

func runConformance(t *testing.T, tg target) {
	prefix := fmt.Sprintf("conf%d", time.Now().UnixNano()%1e9)
	t.Run("Recent", func(t *testing.T) { confRecent(t, tg, prefix+"-recent") })
	t.Run("RecentInFlagUpdates", func(t *testing.T) { confRecentInFlagUpdates(t, tg, prefix+"-recentupd") })
	t.Run("SearchSize", func(t *testing.T) { confSearchSize(t, tg, prefix+"-size") })
	t.Run("LsubParents", func(t *testing.T) { confLsubParents(t, tg, prefix+"-lsub") })
	t.Run("ListStatus", func(t *testing.T) { confListStatus(t, tg, prefix+"-liststatus") })
	t.Run("Keywords", func(t *testing.T) { confKeywords(t, tg, prefix+"-kw") })
	t.Run("EnvelopeAddresses", func(t *testing.T) { confEnvelopeAddresses(t, tg, prefix+"-env") })
	t.Run("BadMailboxName", func(t *testing.T) { confBadMailboxName(t, tg, prefix+"-names") })
	t.Run("MoveWithinMailbox", func(t *testing.T) { confMoveWithinMailbox(t, tg, prefix+"-moveself") })
}

// conn is a raw connection with its own tag counter.
type conn struct {
	*raw
	n int
}

// confLogin opens a raw connection and logs in.
func confLogin(t *testing.T, tg target) *conn {
	t.Helper()
	r := &conn{raw: dialRaw(t, tg.Addr)}
	r.cmd("LOGIN " + imapQuote(tg.User) + " " + imapQuote(tg.Password))
	return r
}

// cmd sends one command with a fresh tag and returns its untagged lines
// (trimmed); a tagged answer other than OK fails the test.
func (r *conn) cmd(c string) []string {
	r.t.Helper()
	lines, status := r.try(c)
	if !strings.HasPrefix(status, "OK") {
		r.t.Fatalf("%s: %s", c, status)
	}
	return lines
}

// try is cmd without the check: it returns the untagged lines and the
// tagged status ("OK ...", "NO ...", "BAD ...").
func (r *conn) try(c string) ([]string, string) {
	r.t.Helper()
	r.n++
	tag := fmt.Sprintf("c%d", r.n)
	r.send(tag + " " + c + "\r\n")
	var lines []string
	for {
		l := strings.TrimRight(r.line(), "\r\n")
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return lines, rest
		}
		lines = append(lines, l)
	}
}

// appendMsg appends msg with a synchronizing literal (every server has it).
func (r *conn) appendMsg(box, flags, msg string) {
	r.t.Helper()
	r.n++
	tag := fmt.Sprintf("c%d", r.n)
	if flags != "" {
		flags = "(" + flags + ") "
	}
	r.send(fmt.Sprintf("%s APPEND %s %s{%d}\r\n", tag, imapQuote(box), flags, len(msg)))
	if l := r.line(); !strings.HasPrefix(l, "+") {
		r.t.Fatalf("APPEND: %q", l)
	}
	r.send(msg + "\r\n")
	if l := r.tagged(tag); !strings.HasPrefix(l, tag+" OK") {
		r.t.Fatalf("APPEND: %q", l)
	}
}

func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// find returns the first line with prefix (and the lines, for messages).
func find(lines []string, prefix string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// waitFor reads untagged lines until one starts with prefix (an IDLE
// update); waitLimit bounds the wait.
func (r *conn) waitFor(prefix string) []string {
	r.t.Helper()
	var seen []string
	for {
		l := strings.TrimRight(r.line(), "\r\n")
		seen = append(seen, l)
		if strings.HasPrefix(l, prefix) {
			return seen
		}
	}
}

package cli_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postern/relay/demo"
	"postern/tools/corpus"
)

// readerDemo is a running `relay demo` with a reader home for its
// journalist and the passphrase in a file.
type readerDemo struct {
	p        *demoProc
	info     demo.Info
	home     string
	passFile string
}

func newReaderDemo(t *testing.T) *readerDemo {
	t.Helper()
	base := t.TempDir()
	conf := filepath.Join(base, "small.conf")
	os.WriteFile(conf, []byte(smallConf), 0o600)
	p, info := startDemo(t, filepath.Join(base, "demo-data"), conf)
	rd := &readerDemo{p: p, info: info, home: filepath.Join(base, "reader"), passFile: filepath.Join(base, "pass")}
	os.WriteFile(rd.passFile, []byte(info.Password+"\n"), 0o600)
	mustRelay(t, nil, "reader", "init", "--dir", rd.home, "--user", info.Journalist)
	return rd
}

// imapClient logs in as the demo journalist, as a second client would.
func (rd *readerDemo) imapClient(t *testing.T) *imapclient.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", rd.info.IMAPAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	t.Cleanup(func() { c.Close() })
	if err := c.Login(rd.info.Journalist, rd.info.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// appendMix APPENDs n messages of the realistic size mix to mailbox, as a
// client saving copies does.
func (rd *readerDemo) appendMix(t *testing.T, mailbox string, sizes []int, from int) {
	t.Helper()
	c := rd.imapClient(t)
	for i, size := range sizes {
		msg := corpus.PlainMessage(from+i, size)
		cmd := c.Append(mailbox, int64(len(msg)), nil)
		cmd.Write(msg)
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("APPEND to %s: %v", mailbox, err)
		}
	}
}

// serverMail returns what the relay holds in mailbox, by Maildir file name
// (UIDVALIDITY-UID:2,).
func (rd *readerDemo) serverMail(t *testing.T, mailbox string) map[string][]byte {
	t.Helper()
	c := rd.imapClient(t)
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	if sel.NumMessages == 0 {
		return out
	}
	section := &imap.FetchItemBodySection{Peek: true}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		out[fmt.Sprintf("%d-%d:2,", sel.UIDValidity, m.UID)] = m.FindBodySection(section)
	}
	return out
}

// localMail reads a mailbox's cur/ of the reader home.
func (rd *readerDemo) localMail(t *testing.T, mailbox string) map[string][]byte {
	t.Helper()
	dir := filepath.Join(rd.home, "maildir", mailbox, "cur")
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// checkComplete fails unless every file in cur/ is byte for byte the
// relay's message of that UID; with all, unless every message is there.
func (rd *readerDemo) checkComplete(t *testing.T, mailbox string, all bool) int {
	t.Helper()
	server, local := rd.serverMail(t, mailbox), rd.localMail(t, mailbox)
	for name, b := range local {
		want, ok := server[name]
		if !ok {
			t.Errorf("%s/cur/%s: no such message on the relay", mailbox, name)
		} else if !bytes.Equal(b, want) {
			t.Errorf("%s/cur/%s: %d bytes, the relay's are %d bytes and differ", mailbox, name, len(b), len(want))
		}
	}
	if all && len(local) != len(server) {
		t.Errorf("%s: %d messages in cur/, %d on the relay", mailbox, len(local), len(server))
	}
	return len(local)
}

// events decodes --json lines.
func events(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for line := range strings.Lines(out) {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		evs = append(evs, ev)
	}
	return evs
}

func countEvents(evs []map[string]any, kind string) int {
	n := 0
	for _, ev := range evs {
		if ev["event"] == kind {
			n++
		}
	}
	return n
}

func (rd *readerDemo) sync(t *testing.T, extra ...string) []map[string]any {
	t.Helper()
	args := append([]string{"reader", "sync", "--dir", rd.home, "--direct", rd.info.IMAPAddr, "--passphrase-file", rd.passFile, "--json"}, extra...)
	return events(t, mustRelay(t, nil, args...))
}

// TestReaderSyncResumesAfterKill copies a realistic mailbox, killed with
// SIGKILL after its first messages: no partial file is in cur/, the next
// run fetches exactly what is missing, a later one only what is new, and
// every file holds the relay's bytes.
func TestReaderSyncResumesAfterKill(t *testing.T) {
	rd := newReaderDemo(t)
	sizes := corpus.Sizes(100)
	rd.appendMix(t, "INBOX", sizes, 0)
	rd.appendMix(t, "Sent", corpus.Sizes(20)[:12], 100)

	cmd := relayCmd("reader", "sync", "--dir", rd.home, "--direct", rd.info.IMAPAddr, "--passphrase-file", rd.passFile, "--json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	seen := 0
	for seen < 10 && sc.Scan() {
		if strings.Contains(sc.Text(), `"event":"message"`) {
			seen++
		}
	}
	cmd.Process.Kill()
	io.Copy(io.Discard, out)
	cmd.Wait()
	if seen < 10 {
		t.Fatalf("the first sync wrote %d messages before it ended", seen)
	}
	got := rd.checkComplete(t, "INBOX", false)
	if got < 10 {
		t.Fatalf("%d messages in cur/ after 10 were reported", got)
	}

	evs := rd.sync(t)
	if n := countEvents(evs, "message"); n != 100+12-got {
		t.Errorf("the resumed sync fetched %d messages, want the %d missing", n, 100+12-got)
	}
	rd.checkComplete(t, "INBOX", true)
	rd.checkComplete(t, "Sent", true)
	for _, mb := range []string{"INBOX", "Sent"} {
		if es, _ := os.ReadDir(filepath.Join(rd.home, "maildir", mb, "tmp")); len(es) != 0 {
			t.Errorf("%s/tmp holds %d files after a complete sync", mb, len(es))
		}
	}

	rd.appendMix(t, "INBOX", []int{3 << 10, 15 << 10, 300 << 10}, 200)
	evs = rd.sync(t)
	if n := countEvents(evs, "message"); n != 3 {
		t.Errorf("the incremental sync fetched %d messages, want the 3 new", n)
	}
	rd.checkComplete(t, "INBOX", true)
	if n := countEvents(rd.sync(t), "message"); n != 0 {
		t.Errorf("a sync with nothing new fetched %d messages", n)
	}
	var st struct {
		Mailboxes map[string]struct {
			UIDValidity uint32 `json:"uidvalidity"`
			HighestUID  uint32 `json:"highest_uid"`
		} `json:"mailboxes"`
	}
	raw, _ := os.ReadFile(filepath.Join(rd.home, "sync-state.json"))
	if err := json.Unmarshal(raw, &st); err != nil || st.Mailboxes["INBOX"].HighestUID != 103 || st.Mailboxes["Sent"].HighestUID != 12 {
		t.Errorf("sync-state.json: %v %s", err, raw)
	}
}

// TestReaderSyncUIDValidityChange: when the relay's mailbox has another
// UIDVALIDITY than the home knew (a rebuilt mailbox), every message is
// fetched again under the new number, and the run says so.
func TestReaderSyncUIDValidityChange(t *testing.T) {
	rd := newReaderDemo(t)
	rd.appendMix(t, "INBOX", []int{4 << 10, 12 << 10, 150 << 10}, 0)
	rd.sync(t)
	// Make the home look as if it had synced an older incarnation.
	statePath := filepath.Join(rd.home, "sync-state.json")
	raw, _ := os.ReadFile(statePath)
	cur := filepath.Join(rd.home, "maildir", "INBOX", "cur")
	es, _ := os.ReadDir(cur)
	valid, _, _ := strings.Cut(es[0].Name(), "-")
	os.WriteFile(statePath, bytes.ReplaceAll(raw, []byte(valid), []byte("7")), 0o600)
	for _, e := range es {
		os.Rename(filepath.Join(cur, e.Name()), filepath.Join(cur, "7-"+strings.SplitN(e.Name(), "-", 2)[1]))
	}

	evs := rd.sync(t)
	if countEvents(evs, "uidvalidity_changed") != 1 || countEvents(evs, "message") != 3 {
		t.Fatalf("after a UIDVALIDITY change: %v", evs)
	}
	if got := len(rd.localMail(t, "INBOX")); got != 6 {
		t.Errorf("%d files in cur/, want the 3 old and the 3 fetched again", got)
	}
	human := mustRelay(t, nil, "reader", "sync", "--dir", rd.home, "--direct", rd.info.IMAPAddr, "--passphrase-file", rd.passFile)
	if strings.Contains(human, "UIDVALIDITY") {
		t.Errorf("a second sync still reports the change:\n%s", human)
	}
}

// cutProxy forwards to addr and ends each connection once the server has
// sent limit bytes: a relay (or a circuit) that dies in the middle of a
// message.
func cutProxy(t *testing.T, addr string, limit int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			wg.Go(func() { io.Copy(s, c); s.Close() })
			wg.Go(func() { io.CopyN(c, s, limit); c.Close(); s.Close() })
		}
	})
	return ln.Addr().String()
}

// TestReaderSyncServerDropsMidMessage: the connection ends inside a
// message; the run fails with one line, nothing partial is in cur/, and the
// next run completes the copy.
func TestReaderSyncServerDropsMidMessage(t *testing.T) {
	rd := newReaderDemo(t)
	rd.appendMix(t, "INBOX", []int{8 << 10, 900 << 10, 10 << 10, 700 << 10}, 0)
	proxy := cutProxy(t, rd.info.IMAPAddr, 600<<10)
	r := relay(t, nil, "reader", "sync", "--dir", rd.home, "--direct", proxy, "--passphrase-file", rd.passFile)
	if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "INBOX") {
		t.Fatalf("sync through a dropped connection: exit %d\n%s", r.code, r.stderr)
	}
	if n := rd.checkComplete(t, "INBOX", false); n != 1 {
		t.Errorf("%d messages in cur/, want only the one that came whole", n)
	}
	rd.sync(t)
	rd.checkComplete(t, "INBOX", true)
}

// TestReaderBadInput: a wrong passphrase, an unreachable relay, a home
// made with --user and no --direct, a missing home: one line each, exit
// 1 or 2, and nothing written to the Maildir.
func TestReaderBadInput(t *testing.T) {
	rd := newReaderDemo(t)
	rd.appendMix(t, "INBOX", []int{5 << 10}, 0)
	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte("not the passphrase\n"), 0o600)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sync", "--dir", rd.home, "--direct", rd.info.IMAPAddr, "--passphrase-file", wrong}, 1, "refused demo's passphrase"},
		{[]string{"sync", "--dir", rd.home, "--direct", deadAddr, "--passphrase-file", rd.passFile}, 1, "connection refused"},
		{[]string{"sync", "--dir", rd.home, "--passphrase-file", rd.passFile}, 2, "give --direct"},
		{[]string{"sync", "--dir", rd.home, "--direct", rd.info.IMAPAddr}, 1, "--passphrase-file"},
		{[]string{"sync", "--dir", t.TempDir(), "--direct", rd.info.IMAPAddr, "--passphrase-file", rd.passFile}, 1, "not a reader home"},
		{[]string{"sync", "--dir", rd.home, "--proxy", "http://127.0.0.1:8080", "--direct", "127.0.0.1:1"}, 2, "not both"},
		{[]string{"init", "--dir", rd.home, "--user", "demo"}, 1, "not empty"},
		{[]string{}, 2, "reader needs a subcommand"},
		{[]string{"frob"}, 2, "unknown reader subcommand"},
		{[]string{"init", "--dir", t.TempDir() + "/x", "--user", "Bad Name"}, 2, "bad journalist name"},
		{[]string{"init", "--dir", t.TempDir() + "/y", "--from", t.TempDir()}, 1, "not an onboarding folder"},
	} {
		r := relay(t, nil, append([]string{"reader"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) || (c.code == 1 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0) {
			t.Errorf("reader %s: exit %d, want %d with %q\n%s", strings.Join(c.args, " "), r.code, c.code, c.want, r.stderr)
		}
	}
	if n := len(rd.localMail(t, "INBOX")); n != 0 {
		t.Errorf("%d files in cur/ after only failed runs", n)
	}
}

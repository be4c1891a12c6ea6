package imapd

import (
	"bufio"
	"compress/flate"
	"context"
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

	"postern/mailbox/authn"
	"postern/mailbox/store"
)

// waitLimit bounds waits for something that must happen; it is a hang
// guard, not a timing assertion.
const waitLimit = 20 * time.Second

func TestClientSuite(t *testing.T) {
	e := newEnv(t, "alice")
	runClientSuite(t, target{Addr: e.addr, User: "alice", Password: e.pass["alice"]})
}

// TestWrongGuessesNeverLockOut protects against the lockout of issue 12
// finding 7: guesses from several sessions at once slow alice's logins
// down, and her right passphrase is still accepted.
func TestWrongGuessesNeverLockOut(t *testing.T) {
	e := newEnv(t, "alice")
	e.stop()
	e.throttle = authn.NewThrottle(authn.ThrottleOptions{Step: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	e.start()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				c, err := imapclient.DialInsecure(e.addr, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if err := c.Login("alice", "wrong").Wait(); err == nil {
					t.Error("wrong password accepted")
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	if d := e.srv.Throttle().Delay("alice"); d != 5*time.Millisecond {
		t.Fatalf("after 12 guesses alice's logins wait %v, want the cap", d)
	}
	if l := e.srv.Throttle().Locks(); len(l) != 1 || l[0].Name != "alice" || l[0].Failures != 12 {
		t.Errorf("Locks() = %+v", l)
	}
	e.login(t, "alice", nil)
}

func TestUnknownUserFails(t *testing.T) {
	e := newEnv(t, "alice")
	c := e.dial(t, nil)
	if err := c.Login("mallory", "anything").Wait(); err == nil {
		t.Fatal("unknown user logged in")
	}
}

// One ciphertext, many views: flags and expunges are per journalist, and
// the blob goes when the last reference does (the env checks the store).
func TestFlagsAndExpungePerJournalist(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	ref := e.deliver(t, sampleMessage("shared", 1000))
	blob := filepath.Join(e.dir, "blobs")
	a := e.login(t, "alice", nil)
	b := e.login(t, "bob", nil)
	for _, c := range []*imapclient.Client{a, b} {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	flags := func(c *imapclient.Client) []imap.Flag {
		t.Helper()
		m, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil || len(m) != 1 {
			t.Fatalf("fetch flags: %v %d", err, len(m))
		}
		return m[0].Flags
	}
	if !hasFlag(flags(a), imap.FlagSeen) {
		t.Error("alice: BODY[] did not set \\Seen")
	}
	if hasFlag(flags(b), imap.FlagSeen) {
		t.Error("bob sees alice's \\Seen")
	}
	if err := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if !blobExists(t, blob, ref.ID) {
		t.Fatal("blob removed while bob still has the message")
	}
	if m, err := b.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect(); err != nil || len(m) != 1 || len(m[0].BodySection) != 1 {
		t.Fatalf("bob lost the message: %v", err)
	}
	if err := e.st.Check(); err != nil {
		t.Fatal(err)
	}
	if err := b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if blobExists(t, blob, ref.ID) {
		t.Error("blob still on disk after the last expunge")
	}
}

func blobExists(t *testing.T, dir, id string) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), id) {
			found = true
		}
		return nil
	})
	return found
}

// idleOnInbox logs user in, selects INBOX and starts IDLE; every EXISTS
// the session hears arrives on exists.
func idleOnInbox(t *testing.T, e *env, user string) (*imapclient.Client, *imapclient.IdleCommand, chan uint32) {
	t.Helper()
	exists := make(chan uint32, 16)
	c := e.login(t, user, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	return c, idle, exists
}

// A journalist idling on INBOX hears of a submission when it is delivered,
// and sees flag changes made by their other session.
func TestIdleSeesDelivery(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	c, idle, exists := idleOnInbox(t, e, "alice")
	e.deliver(t, sampleMessage("while idling", 100))
	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("EXISTS %d, want 1", n)
		}
	case <-time.After(waitLimit):
		t.Fatal("no EXISTS while idling")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	m, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(m) != 1 || m[0].Envelope.Subject != "while idling" {
		t.Fatalf("fetch after idle: %v %+v", err, m)
	}
}

func TestUIDsSurviveRestart(t *testing.T) {
	e := newEnv(t, "alice")
	for i := 0; i < 3; i++ {
		e.deliver(t, sampleMessage(fmt.Sprint("restart ", i), 100))
	}
	snapshot := func() (uint32, imap.UID, []imap.UID) {
		c := e.login(t, "alice", nil)
		defer c.Close()
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var uids []imap.UID
		for _, x := range m {
			uids = append(uids, x.UID)
		}
		return sel.UIDValidity, sel.UIDNext, uids
	}
	v1, n1, u1 := snapshot()
	e.stop()
	e.start()
	v2, n2, u2 := snapshot()
	if v1 != v2 || n1 != n2 || fmt.Sprint(u1) != fmt.Sprint(u2) || len(u1) != 3 {
		t.Errorf("before restart %d %d %v, after %d %d %v", v1, n1, u1, v2, n2, u2)
	}
}

func TestRemovedJournalistLoggedOut(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	b := e.login(t, "bob", nil)
	a := e.login(t, "alice", nil)
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := e.st.RemoveJournalist("bob"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Closed():
	case <-time.After(waitLimit):
		t.Fatal("bob's session still open after removal")
	}
	if err := a.Noop().Wait(); err != nil {
		t.Errorf("alice's session hurt by bob's removal: %v", err)
	}
	c := e.dial(t, nil)
	if err := c.Login("bob", e.pass["bob"]).Wait(); err == nil {
		t.Error("removed journalist logged in")
	}
}

// raw is a line-level client for hostile input. It counts the bytes it
// reads from the network and can switch to COMPRESS=DEFLATE.
type raw struct {
	t  *testing.T
	c  *countConn
	br *bufio.Reader
	w  io.Writer     // c, or fw once compressed
	fw *flate.Writer // nil until compress
	// bw gathers fw's output into one write: a server that has read a
	// whole command (LOGOUT) may close before a second write arrives.
	bw *bufio.Writer
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(waitLimit))
	c := &countConn{Conn: nc}
	r := &raw{t: t, c: c, br: bufio.NewReader(c), w: c}
	r.line() // greeting
	return r
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.w, s); err != nil {
		r.t.Fatal(err)
	}
	if r.fw != nil {
		if err := r.fw.Flush(); err != nil {
			r.t.Fatal(err)
		}
		if err := r.bw.Flush(); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *raw) line() string {
	r.t.Helper()
	l, err := r.br.ReadString('\n')
	if testing.Verbose() {
		r.t.Logf("S: %q", l)
	}
	if err != nil {
		r.t.Fatalf("read: %v (after %q)", err, l)
	}
	return l
}

// tagged reads until the line for tag and returns it.
func (r *raw) tagged(tag string) string {
	r.t.Helper()
	for {
		l := r.line()
		if strings.HasPrefix(l, tag+" ") {
			return l
		}
	}
}

func TestHostileClients(t *testing.T) {
	e := newEnv(t, "alice")
	e.srv.o.MaxAppendBytes = 1 << 20

	t.Run("BeforeLogin", func(t *testing.T) {
		r := dialRaw(t, e.addr)
		for i, cmd := range []string{"SELECT INBOX", "LIST \"\" *", "FETCH 1 BODY[]", "CREATE x", "STATUS INBOX (MESSAGES)"} {
			tag := fmt.Sprintf("a%d", i)
			r.send(tag + " " + cmd + "\r\n")
			if l := r.tagged(tag); !strings.HasPrefix(l, tag+" BAD") && !strings.HasPrefix(l, tag+" NO") {
				t.Errorf("%s before login: %q", cmd, l)
			}
		}
		r.send("b1 APPEND INBOX {10}\r\n")
		if l := r.line(); !strings.HasPrefix(l, "b1 NO") && !strings.HasPrefix(l, "b1 BAD") {
			t.Errorf("APPEND literal before login: %q", l)
		}
	})
	t.Run("HugeLiteral", func(t *testing.T) {
		r := dialRaw(t, e.addr)
		r.send(fmt.Sprintf("l LOGIN alice {%d}\r\n", len(e.pass["alice"])))
		r.line()
		r.send(e.pass["alice"] + "\r\n")
		if l := r.tagged("l"); !strings.HasPrefix(l, "l OK") {
			t.Fatalf("login: %q", l)
		}
		r.send("a APPEND INBOX {99999999999}\r\n")
		if l := r.tagged("a"); !strings.Contains(l, "NO") && !strings.Contains(l, "BAD") {
			t.Errorf("huge APPEND literal: %q", l)
		}
		r.send(fmt.Sprintf("b APPEND INBOX {%d}\r\n", 2<<20))
		if l := r.tagged("b"); !strings.Contains(l, "TOOBIG") {
			t.Errorf("APPEND above MaxAppendBytes: %q", l)
		}
		// imapserver answers the next two with "NO [SERVERBUG]" (its
		// decoder errors are not typed as client errors); a refusal either way.
		r.send("d CREATE \"&Jjo-!&\"\r\n")
		if l := r.tagged("d"); !strings.HasPrefix(l, "d BAD") && !strings.HasPrefix(l, "d NO") {
			t.Errorf("invalid modified UTF-7: %q", l)
		}
		r.send("e SEARCH " + strings.Repeat("(", 5000) + "ALL" + strings.Repeat(")", 5000) + "\r\n")
		if l := r.tagged("e"); !strings.HasPrefix(l, "e BAD") && !strings.HasPrefix(l, "e NO") {
			t.Errorf("deep nesting: %q", l)
		}
		r.send("f NOOP\r\n")
		if l := r.tagged("f"); !strings.HasPrefix(l, "f OK") {
			t.Errorf("server unhappy after hostile input: %q", l)
		}
	})
	t.Run("BufferedLiteral", func(t *testing.T) {
		// imapserver (beta.8) refuses a literal over 4 KiB in a mailbox
		// name but then waits for more input instead of answering NO: the
		// connection hangs until its read timeout. It must never ask for
		// the literal (no "+"), and the server must live on.
		r := dialRaw(t, e.addr)
		r.send("l LOGIN alice \"" + e.pass["alice"] + "\"\r\n")
		r.tagged("l")
		r.send("c SELECT {99999}\r\n")
		r.send("d NOOP\r\n")
		r.c.Conn.(*net.TCPConn).CloseWrite()
		for {
			l, err := r.br.ReadString('\n')
			if strings.HasPrefix(l, "+") {
				t.Fatalf("server asked for a 99999-byte buffered literal: %q", l)
			}
			if err != nil {
				break
			}
		}
	})
	// The server lives on.
	e.login(t, "alice", nil)
}

// Past MaxConns logged-in connections, a newcomer is refused with BYE
// (connections not logged in are evicted instead: conns_test.go).
func TestConnectionLimit(t *testing.T) {
	en := newEnvWith(t, Options{MaxConns: 2}, "alice")
	login := func() *raw {
		r := dialRaw(t, en.addr)
		r.send("l LOGIN alice \"" + en.pass["alice"] + "\"\r\n")
		if l := r.tagged("l"); !strings.HasPrefix(l, "l OK") {
			t.Fatalf("login: %q", l)
		}
		return r
	}
	r1 := login()
	r2 := login()
	c, err := net.Dial("tcp", en.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	l, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(l, "* BYE") {
		t.Errorf("third connection got %q", l)
	}
	r1.c.Close()
	r2.send("a NOOP\r\n")
	if l := r2.tagged("a"); !strings.HasPrefix(l, "a OK") {
		t.Errorf("%q", l)
	}
}

// A message delivered without cached meta is walked from its file.
func TestDeliveryWithoutMeta(t *testing.T) {
	e := newEnv(t, "alice")
	msg := sampleMessage("no meta", 5000)
	bw, err := e.st.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	bw.Write([]byte(msg))
	ref, err := bw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.Deliver(store.Delivery{Blob: ref}); err != nil {
		t.Fatal(err)
	}
	c := e.login(t, "alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	part := &imap.FetchItemBodySection{Peek: true, Part: []int{1}}
	m, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{}, BodySection: []*imap.FetchItemBodySection{part}}).Collect()
	if err != nil || len(m) != 1 {
		t.Fatalf("%v %d", err, len(m))
	}
	if m[0].Envelope.Subject != "no meta" {
		t.Errorf("envelope %+v", m[0].Envelope)
	}
	if got := string(m[0].FindBodySection(part)); got != "Version: 1" {
		t.Errorf("BODY[1] = %q", got)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	e := newEnv(t, "alice")
	e.stop()
	st, err := store.Open(e.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Options{Store: st, Pool: e.pool})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	c, err := imapclient.DialInsecure(ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-c.Closed():
	case <-time.After(waitLimit):
		t.Fatal("session survived Run's end")
	}
}

// Sessions watching a mailbox while deliveries and expunges race must all
// converge on the store's view: no phantom EXPUNGE, no missed EXISTS.
func TestConcurrentViewsConverge(t *testing.T) {
	e := newEnv(t, "alice")
	type view struct {
		c  *imapclient.Client
		mu sync.Mutex
		n  int
	}
	var views []*view
	for i := 0; i < 3; i++ {
		v := &view{}
		v.c = e.login(t, "alice", &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					v.mu.Lock()
					v.n = int(*d.NumMessages)
					v.mu.Unlock()
				}
			},
			Expunge: func(uint32) {
				v.mu.Lock()
				v.n--
				v.mu.Unlock()
			},
		}})
		sel, err := v.c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		v.n = int(sel.NumMessages)
		views = append(views, v)
	}
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.deliver(t, sampleMessage(fmt.Sprint("race ", i), 100))
		}()
	}
	// Meanwhile another session deletes what it sees (its own EXPUNGE
	// responses answer its command, so it is not one of the views).
	del := e.login(t, "alice", nil)
	if _, err := del.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		del.Store(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		if err := del.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	msgs, err := e.st.Messages("alice", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	want := len(msgs)
	deadline := time.Now().Add(waitLimit)
	for _, v := range views {
		for {
			if err := v.c.Noop().Wait(); err != nil {
				t.Fatal(err)
			}
			v.mu.Lock()
			n := v.n
			v.mu.Unlock()
			if n == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a session sees %d messages, the store has %d", n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Silent connections are closed: before login after LoginTimeout, after
// login after IdleTimeout.
func TestTimeouts(t *testing.T) {
	waitClosed := func(r *raw, what string) {
		t.Helper()
		for {
			if _, err := r.br.ReadString('\n'); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("%s: connection still open", what)
				}
				return
			}
		}
	}
	// Two servers, so that a slow login under load cannot meet the other
	// timeout.
	e := newEnvWith(t, Options{LoginTimeout: 100 * time.Millisecond})
	r := dialRaw(t, e.addr)
	r.send("a NOOP\r\n") // commands before login do not extend the deadline
	waitClosed(r, "not logged in")

	e = newEnvWith(t, Options{IdleTimeout: 300 * time.Millisecond}, "alice")
	r = dialRaw(t, e.addr)
	// LOGIN and SELECT in one write: no pause between them can meet the
	// short IdleTimeout before the session is idle.
	r.send("l LOGIN alice \"" + e.pass["alice"] + "\"\r\ns SELECT INBOX\r\n")
	if l := r.tagged("l"); !strings.HasPrefix(l, "l OK") {
		t.Fatalf("login: %q", l)
	}
	if l := r.tagged("s"); !strings.HasPrefix(l, "s OK") {
		t.Fatalf("select: %q", l)
	}
	waitClosed(r, "idle after login")
}

// The command forms Thunderbird and other clients send at startup.
func TestClientStartupCommands(t *testing.T) {
	e := newEnv(t, "alice")
	e.deliver(t, sampleMessage("tb", 100))
	r := dialRaw(t, e.addr)
	r.send("l LOGIN alice \"" + e.pass["alice"] + "\"\r\n")
	r.tagged("l")
	collect := func(tag, cmd string) []string {
		t.Helper()
		r.send(tag + " " + cmd + "\r\n")
		var lines []string
		for {
			l := r.line()
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					t.Errorf("%s: %q", cmd, l)
				}
				return lines
			}
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	joined := func(ls []string) string { return strings.Join(ls, "\n") }
	if got := joined(collect("a", `LIST "" "*" RETURN (SPECIAL-USE)`)); !strings.Contains(got, `\Trash`) || !strings.Contains(got, "INBOX") {
		t.Errorf("LIST RETURN (SPECIAL-USE):\n%s", got)
	}
	if got := joined(collect("b", `LIST (SPECIAL-USE) "" "*"`)); strings.Contains(got, "INBOX") || !strings.Contains(got, `\Sent`) {
		t.Errorf("LIST (SPECIAL-USE):\n%s", got)
	}
	if got := collect("c", `LSUB "" "*"`); len(got) != 6 {
		t.Errorf("LSUB:\n%s", joined(got))
	}
	if got := joined(collect("d", `LIST "" "%"`)); !strings.Contains(got, `"/" "Sent"`) {
		t.Errorf("LIST %%:\n%s", got)
	}
	if got := joined(collect("e", `NAMESPACE`)); !strings.Contains(got, `(("" "/"))`) {
		t.Errorf("NAMESPACE:\n%s", got)
	}
	if got := joined(collect("f", `STATUS "INBOX" (UIDNEXT MESSAGES UNSEEN RECENT)`)); !strings.Contains(got, "MESSAGES 1") || !strings.Contains(got, "UNSEEN 1") || !strings.Contains(got, "RECENT 1") {
		t.Errorf("STATUS:\n%s", got)
	}
	if got := joined(collect("g", `SELECT "INBOX"`)); !strings.Contains(got, "1 EXISTS") || !strings.Contains(got, "UIDVALIDITY") || !strings.Contains(got, "PERMANENTFLAGS") {
		t.Errorf("SELECT:\n%s", got)
	}
	if got := joined(collect("h", `UID FETCH 1:* (FLAGS)`)); !strings.Contains(got, `* 1 FETCH (UID 1 FLAGS (\Recent))`) {
		t.Errorf("UID FETCH FLAGS:\n%s", got)
	}
	got := joined(collect("i", `UID FETCH 1 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])`))
	if !strings.Contains(got, "Subject: tb") || !strings.Contains(got, "RFC822.SIZE") {
		t.Errorf("Thunderbird header fetch:\n%s", got)
	}
	collect("j", `UID STORE 1 +FLAGS (\Seen $Forwarded)`)
	if got := joined(collect("k", `UID FETCH 1 (FLAGS)`)); !strings.Contains(got, `$Forwarded`) || !strings.Contains(got, `\Seen`) {
		t.Errorf("keywords: %s", got)
	}
	if got := joined(collect("m", `UID COPY 1 "Trash"`)); got != "" {
		t.Logf("COPY: %s", got)
	}
	collect("n", `UID STORE 1 +FLAGS.SILENT (\Deleted)`)
	if got := joined(collect("o", `UID EXPUNGE 1`)); !strings.Contains(got, "* 1 EXPUNGE") {
		t.Errorf("UID EXPUNGE:\n%s", got)
	}
	if got := joined(collect("p", `STATUS Trash (MESSAGES)`)); !strings.Contains(got, "MESSAGES 1") {
		t.Errorf("Trash after COPY:\n%s", got)
	}
}

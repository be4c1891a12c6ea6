package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/mailbox/pgp"
	"postern/relay/admin"
	"postern/relay/config"
	"postern/relay/ctl"
	"postern/tools/sourceclient"
	"postern/tools/tornet"
)

func journalistKey(t *testing.T, seed byte, name string) []byte {
	t.Helper()
	e, err := pgp.DeriveKey(bytes.Repeat([]byte{seed}, 32), name+" <"+name+"@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	return pgp.Serialize(e)
}

// TestServeOverTor runs the real relay behind its onions on the private Tor
// network: a source submits a file through the intake onion and logs in again;
// a journalist reads it over IMAP through the journalist onion with their client
// key; without the key, or after removal, the onion refuses; after a restart both
// addresses and the mail are still there.
func TestServeOverTor(t *testing.T) {
	tornet.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tn, err := tornet.Start(ctx, tornet.Options{Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Stop)

	dir := t.TempDir() + "/data"
	cfg := config.Default()
	cheap := config.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	cfg.SourceKDF, cfg.PasswordKDF = cheap, cheap
	cfg.DeliveryWindowMinutes = 0
	cfg.IntakeListen, cfg.IMAPListen, cfg.SMTPListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.TorExtra = []string{"%include " + tn.JoinTorrc}
	a, err := admin.Init(dir, cfg, admin.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := a.JournalistAdd(ctx, "alice", journalistKey(t, 1, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()

	var done chan error
	start := func() (Info, func()) {
		sctx, stop := context.WithCancel(ctx)
		started := make(chan Info, 1)
		done = make(chan error, 1)
		go func() {
			done <- Run(sctx, Options{Dir: dir, Started: func(i Info) { started <- i }})
		}()
		select {
		case info := <-started:
			return info, func() {
				stop()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}
		case err := <-done:
			t.Fatalf("serve: %v", err)
		case <-ctx.Done():
			t.Fatal("serve did not start")
		}
		return Info{}, nil
	}
	info, stop := start()
	if info.IntakeOnion == "" || info.JournalistOnion == "" {
		t.Fatalf("onions not published: %+v", info)
	}
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		return tornet.Dial(ctx, tn.SocksAddr, addr)
	}

	// The source's side, over the intake onion.
	src := sourceclient.New("http://"+info.IntakeOnion, dial)
	var codename string
	if err := retry(ctx, func() error { codename, err = src.NewCodename(ctx); return err }); err != nil {
		t.Fatal("intake onion:", err)
	}
	if err := src.Submit(ctx, "over tor", "hello through the onion", sourceclient.File{Name: "doc.txt", R: strings.NewReader("file over tor")}); err != nil {
		t.Fatal(err)
	}
	if err := src.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	src2 := sourceclient.New("http://"+info.IntakeOnion, dial)
	if err := src2.Login(ctx, codename); err != nil {
		t.Fatal(err)
	}

	// The journalist's side: refused without the key, then IMAP with it.
	var se *tornet.SocksError
	if err := dialOnce(ctx, tn, info.JournalistOnion); !errors.As(err, &se) || se.Code != tornet.SocksOnionAuthMissing {
		t.Fatalf("journalist onion without a key: want SOCKS 0xF4, got %v", err)
	}
	if err := tn.AddClientAuth("alice", info.JournalistOnion, alice.OnionAuthPrivate); err != nil {
		t.Fatal(err)
	}
	if n := inboxCount(ctx, t, tn, info.JournalistOnion, "alice", alice.Passphrase); n != 1 {
		t.Fatalf("alice's INBOX over the onion: %d messages", n)
	}
	// alice answers over SMTP through the journalist onion; the source reads
	// it through the intake onion.
	srcAddr := sourceAddress(ctx, t, tn, info.JournalistOnion, alice.Passphrase)
	if err := retry(ctx, func() error {
		conn, err := tornet.Dial(ctx, tn.SocksAddr, info.JournalistOnion+":587")
		if err != nil {
			return err
		}
		return sendOn(conn, "alice", alice.Passphrase, srcAddr,
			"From: alice <alice@example.org>\r\nTo: "+srcAddr+"\r\nSubject: Re\r\n\r\nREPLY-OVER-TOR\r\n")
	}); err != nil {
		t.Fatal("SMTP over the journalist onion:", err)
	}
	inbox, err := src2.Inbox(ctx)
	if err != nil || !strings.Contains(inbox.Body, "REPLY-OVER-TOR") {
		t.Fatalf("the source does not see the reply over the intake onion (%v)", err)
	}

	// relay status through the control socket shows tor and both onions.
	c, err := ctl.Dial(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Tor == nil || st.Tor.Bootstrap != 100 || st.Tor.IntakeOnion != info.IntakeOnion || st.Tor.JournalistOnion != info.JournalistOnion {
		t.Fatalf("status: %+v %v", st.Tor, err)
	}
	// Removing alice (with bob left, so the onion stays up) cuts her off.
	if _, err := c.JournalistAdd(ctx, "bob", journalistKey(t, 2, "bob")); err != nil {
		t.Fatal(err)
	}
	if err := c.JournalistRemove(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := retry(ctx, func() error {
		if err := dialOnce(ctx, tn, info.JournalistOnion); err == nil {
			return errors.New("the journalist onion still answers alice's key")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stop()

	info2, _ := start()
	if info2.IntakeOnion != info.IntakeOnion || info2.JournalistOnion != info.JournalistOnion {
		t.Fatalf("onion addresses changed across restart: %+v -> %+v", info, info2)
	}
	src3 := sourceclient.New("http://"+info2.IntakeOnion, dial)
	if err := retry(ctx, func() error { return src3.Login(ctx, codename) }); err != nil {
		t.Fatal("login after restart:", err)
	}

	// If tor dies, the relay stops every service rather than serve without
	// its onions.
	if out, err := exec.Command("pkill", "-KILL", "-f", filepath.Join(dir, "tor", "torrc")).CombinedOutput(); err != nil {
		t.Fatalf("pkill tor: %v %s", err, out)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "tor exited") {
			t.Fatalf("serve after tor died: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve kept running after tor died")
	}
	for _, addr := range []string{info2.IntakeAddr, info2.IMAPAddr, info2.SMTPAddr} {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s still listens after tor died", addr)
		}
	}
}

// Without tor, serve refuses to start and leaves no listener behind.
func TestServeWithoutTorProgram(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cheap := config.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	cfg.SourceKDF, cfg.PasswordKDF = cheap, cheap
	cfg.DeliveryWindowMinutes = 0
	cfg.IntakeListen, cfg.IMAPListen, cfg.SMTPListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	a, err := admin.Init(dir, cfg, admin.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	before := listeningSockets(t)
	err = Run(context.Background(), Options{Dir: dir, TorPath: "/nonexistent/tor"})
	if err == nil || !strings.Contains(err.Error(), "tor program was not found") || !strings.Contains(err.Error(), "never runs without its onions") {
		t.Fatalf("want a clear refusal, got %v", err)
	}
	// Serve bound its three services before it looked for tor: every one
	// of them is closed again. Counted among this process's own sockets,
	// so another process taking a freed port cannot fool the check.
	if after := listeningSockets(t); after > before {
		t.Fatalf("%d listening sockets left open (%d before serve)", after, before)
	}
	if _, err := os.Stat(filepath.Join(dir, "relay.sock")); err == nil {
		t.Error("the control socket was left behind")
	}
}

// listeningSockets counts the TCP sockets in the LISTEN state that this
// process holds, from /proc (Linux; elsewhere the test skips, and fails under CI=true).
func listeningSockets(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no /proc/self/fd (required under CI): %v", err)
		}
		t.Skipf("no /proc/self/fd: %v", err)
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			if fs := strings.Fields(line); len(fs) > 9 && fs[3] == "0A" && mine[fs[9]] {
				n++
			}
		}
	}
	return n
}

// sourceAddress reads the From of alice's first message over the onion.
func sourceAddress(ctx context.Context, t *testing.T, tn *tornet.Network, onion, pass string) string {
	t.Helper()
	conn, err := tornet.Dial(ctx, tn.SocksAddr, onion+":143")
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login("alice", pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || len(msgs[0].Envelope.From) != 1 {
		t.Fatalf("envelope over the onion: %v", err)
	}
	return msgs[0].Envelope.From[0].Addr()
}

// sendOn submits a message on an open connection, as Thunderbird does.
func sendOn(conn net.Conn, user, pass, to, msg string) error {
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		return err
	}
	if err := c.Mail(user+"@example.org", nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func dialOnce(ctx context.Context, tn *tornet.Network, onion string) error {
	var err error
	for range 30 {
		var c net.Conn
		c, err = tornet.Dial(ctx, tn.SocksAddr, onion+":143")
		if err == nil {
			c.Close()
			return nil
		}
		var se *tornet.SocksError
		if errors.As(err, &se) && se.Code != tornet.SocksOnionNotFound {
			return err
		}
		time.Sleep(time.Second)
	}
	return err
}

func inboxCount(ctx context.Context, t *testing.T, tn *tornet.Network, onion, user, pass string) uint32 {
	t.Helper()
	var n uint32
	err := retry(ctx, func() error {
		conn, err := tornet.Dial(ctx, tn.SocksAddr, onion+":143")
		if err != nil {
			return err
		}
		c := imapclient.New(conn, nil)
		defer c.Close()
		if err := c.Login(user, pass).Wait(); err != nil {
			return err
		}
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return err
		}
		n = *st.NumMessages
		return nil
	})
	if err != nil {
		t.Fatal("IMAP over the journalist onion:", err)
	}
	return n
}

func retry(ctx context.Context, f func() error) error {
	var err error
	for range 45 {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
	return err
}

package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"postern/relay/serve"
	"postern/tools/sourceclient"
)

// TestReaderOverTor runs the real relay behind its onions on the private Tor
// network and the reader through the client's SOCKS port, as a journalist
// does: a home made from the onboarding folder, refused by the onion until
// tor has the client key from it, then sync and send (twice, stored once)
// through the journalist onion.
func TestReaderOverTor(t *testing.T) {
	tn, base, dir := instanceOnTornet(t, "intake_listen = 127.0.0.1:0\nimap_listen = 127.0.0.1:0\nsmtp_listen = 127.0.0.1:0\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	keyFile, _ := writeKey(t, base)
	mustRelay(t, nil, "journalist", "add", "alice", "--key", keyFile, "--data", dir)

	srv := relayCmd("serve", "--data", dir, "--json")
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	started := make(chan serve.Info, 1)
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			var info serve.Info
			if json.Unmarshal(lines.Bytes(), &info) == nil && info.JournalistOnion != "" {
				started <- info
			}
		}
		done <- srv.Wait()
	}()
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(time.Minute):
			srv.Process.Kill()
		}
	})
	var info serve.Info
	select {
	case info = <-started:
	case err := <-done:
		t.Fatalf("serve ended: %v\n%s", err, logs.String())
	case <-ctx.Done():
		t.Fatal("serve did not start")
	}

	// A source submits, on the loopback intake (the onion path of the
	// form is serve's own test).
	src := sourceclient.New("http://"+info.IntakeAddr, nil)
	if _, err := src.NewCodename(ctx); err != nil {
		t.Fatal(err)
	}
	if err := src.Submit(ctx, "over tor", "the reader fetches this through the onion"); err != nil {
		t.Fatal(err)
	}

	ob := filepath.Join(base, "onboard")
	var onboarded struct {
		Passphrase string `json:"passphrase"`
	}
	json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "onboard", "alice", "--out", ob, "--data", dir, "--json")), &onboarded)
	passFile := filepath.Join(base, "pass")
	os.WriteFile(passFile, []byte(onboarded.Passphrase+"\n"), 0o600)
	home := filepath.Join(base, "reader")
	mustRelay(t, nil, "reader", "init", "--dir", home, "--from", ob)
	raw, _ := os.ReadFile(filepath.Join(home, "reader.json"))
	var h struct {
		Onion      string `json:"journalist_onion"`
		ClientAuth string `json:"client_auth_file"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.Onion != info.JournalistOnion || h.ClientAuth == "" {
		t.Fatalf("reader.json from the onboarding folder: %v\n%s", err, raw)
	}
	if fi, err := os.Stat(filepath.Join(home, h.ClientAuth)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("client key file: %v %v", err, fi)
	}

	proxy := "socks5://" + tn.SocksAddr
	syncArgs := []string{"reader", "sync", "--dir", home, "--proxy", proxy, "--passphrase-file", passFile}
	// Until tor has the key the onion refuses (once its descriptor is out).
	r := retryRelay(t, ctx, "onion service not found", syncArgs...)
	if r.code != 1 || !strings.Contains(r.stderr, "needs your client-authorisation key") {
		t.Fatalf("sync without the client key: exit %d\n%s", r.code, r.stderr)
	}
	key, _ := os.ReadFile(filepath.Join(home, h.ClientAuth))
	parts := strings.Split(strings.TrimSpace(string(key)), ":")
	if err := tn.AddClientAuth("alice", parts[0], parts[3]); err != nil {
		t.Fatal(err)
	}
	if r := retryRelay(t, ctx, "client-authorisation", syncArgs...); r.code != 0 || !strings.Contains(r.stdout, "INBOX: 1 new messages") {
		t.Fatalf("sync over the onion: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	es, _ := os.ReadDir(filepath.Join(home, "maildir", "INBOX", "cur"))
	if len(es) != 1 {
		t.Fatalf("%d messages in INBOX/cur", len(es))
	}
	f, _ := os.Open(filepath.Join(home, "maildir", "INBOX", "cur", es[0].Name()))
	m, err := mail.ReadMessage(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil || !strings.Contains(m.Header.Get("Content-Type"), "multipart/encrypted") {
		t.Fatalf("the synced submission: %v %v", err, m.Header)
	}

	outbox := filepath.Join(base, "outbox")
	os.Mkdir(outbox, 0o700)
	msg := []byte(replyEML(from.Address, "70125eed"))
	os.WriteFile(filepath.Join(outbox, "reply.eml"), msg, 0o600)
	for range 2 {
		out := mustRelay(t, nil, "reader", "send", "--dir", home, "--outbox", outbox, "--proxy", proxy, "--passphrase-file", passFile)
		if !strings.Contains(out, "sent: reply.eml") {
			t.Fatalf("send over the onion:\n%s", out)
		}
		os.WriteFile(filepath.Join(outbox, "reply.eml"), msg, 0o600)
	}
	var list []struct {
		Replies int `json:"replies"`
	}
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "source", "list", "--data", dir, "--json")), &list); err != nil || len(list) != 1 || list[0].Replies != 1 {
		t.Fatalf("after sending one reply twice over the onion: %v %+v", err, list)
	}
}

// retryRelay runs a command until its stderr no longer holds transient
// (an onion descriptor not yet published, a key tor has not yet read).
func retryRelay(t *testing.T, ctx context.Context, transient string, args ...string) result {
	t.Helper()
	for {
		r := relay(t, nil, args...)
		if !strings.Contains(r.stderr, transient) || ctx.Err() != nil {
			return r
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

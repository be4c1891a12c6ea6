package cli_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postern/relay/admin"
	"postern/relay/demo"
	"postern/relay/serve"
)

// The upgrade fixture: a data directory made by release 0.1.0 (the code of
// this commit), with a journalist "demo" whose THROWAWAY key and passphrase
// lie next to it, one submission made through the form and one realistic
// message appended to Archive. Regenerate (only when a release is cut) with
//
//	POSTERN_WRITE_UPGRADE_FIXTURE=1 go test -run TestUpgradeFromV1 ./relay/cli/
const (
	upgradeFixture = "testdata/upgrade-v1"
	fixtureData    = "data"
	fixtureSecret  = "THROWAWAY-journalist.sec.asc" // never a real key
	fixturePass    = "THROWAWAY-passphrase.txt"
	fixtureMail    = "expected-mail.json" // mailbox → sha256 of each message, in UID order
)

// A data directory made by the previous release opens with this binary,
// migrates at start, and serves the same mail over IMAP, byte for byte.
func TestUpgradeFromV1(t *testing.T) {
	if os.Getenv("POSTERN_WRITE_UPGRADE_FIXTURE") == "1" {
		writeUpgradeFixture(t)
	}
	dir := filepath.Join(t.TempDir(), "data")
	copyFixture(t, filepath.Join(upgradeFixture, fixtureData), dir)
	pass, err := os.ReadFile(filepath.Join(upgradeFixture, fixturePass))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]string
	b, err := os.ReadFile(filepath.Join(upgradeFixture, fixtureMail))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}

	p, info := startServe(t, dir, false)
	var st admin.Status
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "status", "--json", "--data", dir)), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Journalists != 1 || st.Sources != 1 || len(st.Migrations) == 0 {
		t.Fatalf("status of the upgraded instance: %+v", st)
	}
	// Migrated: the schema and the migrations run are a new instance's.
	var fresh admin.Status
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "status", "--json", "--data", newInstance(t))), &fresh); err != nil {
		t.Fatal(err)
	}
	if st.Schema != fresh.Schema || !slices.Equal(st.Migrations, fresh.Migrations) {
		t.Fatalf("not migrated: schema %d %v, a new instance has %d %v", st.Schema, st.Migrations, fresh.Schema, fresh.Migrations)
	}
	if got := mailHashes(t, info.IMAPAddr, strings.TrimSpace(string(pass)), slices.Sorted(mapKeys(want))); !equalMail(got, want) {
		t.Fatalf("the upgraded instance serves other mail:\n got %v\nwant %v", got, want)
	}
	p.stop(t)
}

func mapKeys(m map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func equalMail(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// copyFixture copies the fixture's data directory with the modes the relay
// makes (git keeps none): directories 0700, files 0600.
func copyFixture(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(dst, ".gz") { // the database: 16 MiB, mostly empty pages
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return err
			}
			dst = strings.TrimSuffix(dst, ".gz")
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startServe runs relay serve on free loopback ports (without tor unless
// withTor) and returns once it announces its addresses.
func startServe(t *testing.T, dir string, withTor bool) (*demoProc, serve.Info) {
	t.Helper()
	p := &demoProc{done: make(chan error, 1)}
	args := []string{"serve", "--data", dir, "--json", "--intake", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--smtp", "127.0.0.1:0"}
	if !withTor {
		args = append(args, "--without-tor-for-tests-only")
	}
	p.cmd = relayCmd(args...)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
		p.done <- p.cmd.Wait()
	}()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("relay serve exited before it served:\n%s", p.stderr.String())
		}
		var info serve.Info
		if err := json.Unmarshal([]byte(l), &info); err != nil {
			t.Fatalf("serve --json: %v: %q", err, l)
		}
		return p, info
	case <-time.After(4 * time.Minute):
		t.Fatalf("relay serve did not start:\n%s", p.stderr.String())
	}
	return nil, serve.Info{}
}

// mailHashes logs in as demo and returns, per mailbox, the sha256 of every
// message's BODY[] in UID order.
func mailHashes(t *testing.T, addr, pass string, boxes []string) map[string][]string {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("demo", pass).Wait(); err != nil {
		t.Fatalf("login with the fixture's passphrase: %v", err)
	}
	got := map[string][]string{}
	for _, box := range boxes {
		sel, err := c.Select(box, nil).Wait()
		if err != nil {
			t.Fatalf("SELECT %s: %v", box, err)
		}
		got[box] = []string{}
		if sel.NumMessages == 0 {
			continue
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1, sel.NumMessages), &imap.FetchOptions{
			UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil {
			t.Fatalf("FETCH %s: %v", box, err)
		}
		slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
		for _, m := range msgs {
			var body []byte
			for _, s := range m.BodySection {
				body = s.Bytes
			}
			sum := sha256.Sum256(body)
			got[box] = append(got[box], hex.EncodeToString(sum[:]))
		}
	}
	c.Logout().Wait()
	return got
}

// writeUpgradeFixture makes the fixture with the current code: relay init,
// a THROWAWAY journalist "demo", a submission through the form, and a
// 12 KiB message appended to Archive.
func writeUpgradeFixture(t *testing.T) {
	t.Helper()
	if err := os.RemoveAll(upgradeFixture); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(upgradeFixture, fixtureData)
	conf := filepath.Join(t.TempDir(), "small.conf")
	if err := os.WriteFile(conf, []byte(smallConf), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRelay(t, nil, "init", "--data", dir, "--config", conf)
	keyPath, key := writeKey(t, t.TempDir())
	var added admin.JournalistAdded
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "add", "demo", "--key", keyPath, "--data", dir, "--json")), &added); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{fixtureSecret: key.Secret, fixturePass: []byte(added.Passphrase + "\n")} {
		if err := os.WriteFile(filepath.Join(upgradeFixture, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p, info := startServe(t, dir, false)
	submitThroughForm(t, demo.Info{IntakeURL: "http://" + info.IntakeAddr + "/", IMAPAddr: info.IMAPAddr, Password: added.Passphrase}, "upgrade fixture submission")
	c, err := imapclient.DialInsecure(info.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("demo", added.Passphrase).Wait(); err != nil {
		t.Fatal(err)
	}
	msg := "From: Jane <jane@postern.local>\r\nTo: newsroom@postern.local\r\nSubject: filed\r\n" +
		"Date: Sat, 05 Dec 2026 00:00:00 +0000\r\nMessage-ID: <fixture-1@postern.local>\r\n\r\n" +
		strings.Repeat("A line of an archived note, long enough to be realistic.\r\n", 210)
	ap := c.Append("Archive", int64(len(msg)), nil)
	ap.Write([]byte(msg))
	ap.Close()
	if _, err := ap.Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	c.Close()
	mail := mailHashes(t, info.IMAPAddr, added.Passphrase, []string{"INBOX", "Archive", "Sent"})
	b, _ := json.MarshalIndent(mail, "", "  ")
	if err := os.WriteFile(filepath.Join(upgradeFixture, fixtureMail), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.done; err != nil {
		t.Fatalf("serve: %v\n%s", err, p.stderr.String())
	}
	db := filepath.Join(dir, "postern.db")
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(db+".gz", gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	readme := "Upgrade fixture: a data directory made by Postern " + admin.Version + " (relay/cli/upgrade_test.go).\n" +
		"Every key and passphrase here is a THROWAWAY made for this test: never use them.\n"
	if err := os.WriteFile(filepath.Join(upgradeFixture, "README"), []byte(readme), 0o644); err != nil {
		t.Fatal(err)
	}
}

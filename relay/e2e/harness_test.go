package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/relay/serve"
)

// relayBin is the real binary, built once by TestMain (with -race when the
// tests run with it), so kills, restarts and logs are the real ones.
var relayBin string

func TestMain(m *testing.M) {
	// Listing tests (make fuzz) or running none (make bench) needs no
	// binary: skip the build.
	flag.Parse()
	if flag.Lookup("test.list").Value.String() != "" || flag.Lookup("test.run").Value.String() == "^$" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "relay-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	relayBin = filepath.Join(dir, "relay")
	args := []string{"build", "-o", relayBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "postern/relay/cmd/relay")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building relay:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cheapConf keeps argon2 cheap: these tests are about the relay's
// behaviour, not the cost of a derivation. Debug logging makes the log as
// talkative as it can be for the privacy scan.
const cheapConf = `source_kdf_time = 1
source_kdf_memory_kib = 8192
password_kdf_time = 1
password_kdf_memory_kib = 8192
kdf_workers = 2
log_level = debug
delivery_window_minutes = 0
`

// instance is a relay data directory with one journalist whose private key
// the test holds.
type instance struct {
	dir      string
	name     string
	pass     string
	key      *openpgp.Entity // private half included
	keyring  openpgp.EntityList
	confText string
}

// newInstance runs `relay init` and `relay journalist add`. The data
// directory is short (the control socket path must fit in sun_path).
func newInstance(t *testing.T, conf string) *instance {
	t.Helper()
	base, err := os.MkdirTemp("", "e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	cf := filepath.Join(base, "seed.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	in := &instance{dir: filepath.Join(base, "d"), name: "jane", confText: conf}
	run(t, nil, "init", "--data", in.dir, "--config", cf)

	seed := sha256.Sum256([]byte(t.Name() + " journalist key"))
	in.key, err = pgp.DeriveKey(seed[:], "Jane <jane@newsroom.example>")
	if err != nil {
		t.Fatal(err)
	}
	in.keyring = openpgp.EntityList{in.key}
	pub, err := pgp.Armor(in.key)
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, pub, "journalist", "add", in.name, "--key", "-", "--data", in.dir, "--json")
	var added struct {
		Passphrase string `json:"passphrase"`
	}
	if err := json.Unmarshal(out, &added); err != nil || added.Passphrase == "" {
		t.Fatalf("journalist add --json: %v\n%s", err, out)
	}
	in.pass = added.Passphrase
	return in
}

// run runs a relay command that must succeed and returns its stdout.
func run(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(relayBin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("relay %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

// syncBuf is a bytes.Buffer for a child's stderr, read while it grows.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// relayProc is a running `relay serve --without-tor-for-tests-only`.
type relayProc struct {
	cmd    *exec.Cmd
	info   serve.Info
	stderr *syncBuf
	done   chan struct{}
	err    error // Wait's result, once done is closed
}

// startRelay starts the relay on loopback port 0 and waits for the JSON
// line that names the bound ports. Everything it writes to stderr (the
// announcement and the log) is appended to logs.
func startRelay(t *testing.T, in *instance, logs *syncBuf) *relayProc {
	t.Helper()
	cmd := exec.Command(relayBin, "serve", "--data", in.dir, "--json", "--without-tor-for-tests-only",
		"--intake", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--smtp", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &relayProc{cmd: cmd, stderr: logs, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case l, ok := <-lines:
		if !ok {
			<-p.done
			t.Fatalf("relay serve exited before it listened: %v\n%s", p.err, logs.Bytes())
		}
		if err := json.Unmarshal([]byte(l), &p.info); err != nil || p.info.IntakeAddr == "" || p.info.IMAPAddr == "" {
			t.Fatalf("relay serve --json: %v: %q", err, l)
		}
	case <-time.After(2 * time.Minute):
		p.kill()
		t.Fatalf("relay serve did not listen within 2 minutes\n%s", logs.Bytes())
	}
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *relayProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the relay to shut down (SIGTERM) and waits; a clean exit is
// required.
func (p *relayProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		p.kill()
		t.Fatal("relay serve did not stop within a minute of SIGTERM")
	}
	if p.err != nil {
		t.Fatalf("relay serve exited with %v\n%s", p.err, p.stderr.Bytes())
	}
}

func (p *relayProc) intakeURL() string { return "http://" + p.info.IntakeAddr }

// mail is one INBOX message as the journalist reads it.
type mail struct {
	UID  imap.UID
	Raw  []byte
	Dec  *pgpmime.Decrypted
	Date time.Time // INTERNALDATE
}

// inbox logs in over IMAP, fetches every INBOX message whole and decrypts
// each with the journalist's key, and returns them with INBOX's
// UIDVALIDITY. A message that does not decrypt fails t.
func inbox(t *testing.T, p *relayProc, in *instance) ([]mail, uint32) {
	t.Helper()
	return mailbox(t, p, in, "INBOX")
}

// mailbox is inbox for any of the journalist's mailboxes.
func mailbox(t *testing.T, p *relayProc, in *instance, name string) ([]mail, uint32) {
	t.Helper()
	c, err := imapclient.DialInsecure(p.info.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(in.name, in.pass).Wait(); err != nil {
		t.Fatalf("IMAP login: %v", err)
	}
	sel, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", name, err)
	}
	var out []mail
	if sel.NumMessages == 0 {
		c.Logout().Wait()
		return nil, sel.UIDValidity
	}
	whole := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{whole},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH 1:*: %v", err)
	}
	if uint32(len(bufs)) != sel.NumMessages {
		t.Fatalf("FETCH 1:* returned %d messages, SELECT said %d", len(bufs), sel.NumMessages)
	}
	for _, b := range bufs {
		raw := b.FindBodySection(whole)
		d, err := pgpmime.Decrypt(bytes.NewReader(raw), in.keyring)
		if err != nil {
			t.Errorf("UID %d (%d bytes) does not decrypt: %v", b.UID, len(raw), err)
			continue
		}
		out = append(out, mail{UID: b.UID, Raw: raw, Dec: d, Date: b.InternalDate})
	}
	c.Logout().Wait()
	return out, sel.UIDValidity
}

// readPart returns attachment i of a decrypted mail.
func readPart(t *testing.T, d *pgpmime.Decrypted, i int) []byte {
	t.Helper()
	r, err := d.Open(i)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ctx returns a context bounded by d and the test's deadline.
func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// needPrograms skips the test when one of the programs is missing, and
// fails it under CI, whose .ci/run installs the Debian packages named.
func needPrograms(t *testing.T, debianPackages string, programs ...string) {
	t.Helper()
	for _, prog := range programs {
		if _, err := exec.LookPath(prog); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (Debian packages %s): %v", prog, debianPackages, err)
			}
			t.Skipf("%s not installed (apt-get install %s); skipping", prog, debianPackages)
		}
	}
}

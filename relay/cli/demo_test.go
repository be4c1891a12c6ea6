package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/relay/admin"
	"postern/relay/config"
	"postern/relay/demo"
)

// demoProc is a running `relay demo`.
type demoProc struct {
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan error
}

// lockedBuffer is written by os/exec's copying goroutine while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDemo runs relay demo on free loopback ports and waits until it has
// written this run's demo.json (removed first: every start rewrites it).
func startDemo(t *testing.T, dir, conf string) (*demoProc, demo.Info) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, demo.InfoFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	p := &demoProc{done: make(chan error, 1)}
	p.cmd = relayCmd("demo", "--data", dir, "--config", conf,
		"--intake", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--smtp", "127.0.0.1:0")
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-p.done:
			t.Fatalf("demo exited early: %v\n%s", err, p.stderr.String())
		default:
		}
		b, err := os.ReadFile(filepath.Join(dir, demo.InfoFile))
		if err == nil {
			var info demo.Info
			if err := json.Unmarshal(b, &info); err != nil {
				t.Fatalf("demo.json: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "relay.sock")); err == nil {
				return p, info
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not come up\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startedLog waits until the start-up is over and returns the log so far:
// every service logs "service started" from its own goroutine, and the
// retention loop's start-up report comes from its own goroutine too, so a
// snapshot taken earlier would mistake a late start-up line for a
// request's.
func (p *demoProc) startedLog(t *testing.T) string {
	t.Helper()
	p.waitLog(t, "service started", 4) // intake, imap, smtp, ctl
	p.waitLog(t, "msg=report", 1)
	return p.stderr.String()
}

// waitLog waits until the demo's log holds n lines containing what.
func (p *demoProc) waitLog(t *testing.T, what string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(p.stderr.String(), what) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the log never held %d lines of %q:\n%s", n, what, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *demoProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("demo exit: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo did not stop on SIGINT")
	}
}

func TestDemo(t *testing.T) {
	base := t.TempDir()
	conf := filepath.Join(base, "small.conf")
	os.WriteFile(conf, []byte(smallConf), 0o600)
	dir := filepath.Join(base, "demo-data")

	p, info := startDemo(t, dir, conf)
	if info.DataDir != dir || info.Journalist != "demo" || len(strings.Fields(info.Password)) != admin.PassphraseWords ||
		!strings.HasPrefix(info.IntakeURL, "http://127.0.0.1:") || info.IMAPAddr == "" || info.SMTPAddr == "" ||
		info.SecretKeyFile != filepath.Join(dir, demo.SecretKeyFile) || info.PublicKeyFile != filepath.Join(dir, demo.PublicKeyFile) {
		t.Fatalf("demo.json: %+v", info)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, demo.InfoFile))
	var keys map[string]any
	json.Unmarshal(raw, &keys)
	for _, k := range []string{"data_dir", "intake_url", "imap_addr", "smtp_addr", "journalist", "password", "secret_key_file", "public_key_file"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("demo.json lacks %q", k)
		}
	}
	if !strings.Contains(p.stdout.String(), "DEMO MODE — NOT ANONYMOUS") || !strings.Contains(p.stdout.String(), info.Password) {
		t.Fatalf("banner: %q", p.stdout.String())
	}
	for name, mode := range map[string]os.FileMode{demo.InfoFile: 0o600, demo.SecretKeyFile: 0o600, demo.PassphraseFile: 0o600, "relay.sock": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	confListens(t, dir, info)
	sec, _ := os.ReadFile(info.SecretKeyFile)
	ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(sec))
	if err != nil || len(ents) != 1 || ents[0].PrivateKey == nil {
		t.Fatalf("secret key file: %v", err)
	}
	if _, ok := ents[0].EncryptionKey(time.Now()); !ok {
		t.Fatal("demo key cannot encrypt")
	}
	fpr := strings.ToUpper(strings.TrimSpace(hexFpr(ents[0])))

	logBefore := p.startedLog(t)
	checkServices(t, info)
	const marker = "the-plaintext-marker-7f3a"
	submitThroughForm(t, info, marker)
	// No per-request log lines: page views, a submission and IMAP logins
	// leave no trace in the relay's log.
	if after := p.stderr.String(); after != logBefore {
		t.Errorf("requests were logged:\n%s", strings.TrimPrefix(after, logBefore))
	}
	// And the plaintext reached no file of the instance.
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(marker)) {
				t.Errorf("plaintext found in %s", path)
			}
		}
		return nil
	})

	// Admin commands go through the control socket while the demo holds
	// the database.
	var st admin.Status
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "status", "--data", dir, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Running || !st.Demo || st.Journalists != 1 || st.Sources != 1 || st.Messages != 1 {
		t.Fatalf("status through socket: %+v", st)
	}
	var list []admin.JournalistInfo
	json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "list", "--json", "--data", dir)), &list)
	if len(list) != 1 || list[0].Fingerprint != fpr {
		t.Fatalf("list: %+v (key %s)", list, fpr)
	}
	keyPath, _ := writeKey(t, base)
	mustRelay(t, nil, "journalist", "add", "jane", "--key", keyPath, "--data", dir)
	r := relay(t, nil, "journalist", "add", "jane", "--key", keyPath, "--data", dir)
	if r.code != 1 || !strings.Contains(r.stderr, `journalist "jane" already exists`) {
		t.Fatalf("duplicate through socket: %+v", r)
	}
	if r := relay(t, []byte("junk"), "journalist", "set-key", "jane", "--key", "-", "--data", dir); r.code != 1 || !strings.Contains(r.stderr, "unusable OpenPGP key") {
		t.Fatalf("garbage key through socket: %+v", r)
	}
	mustRelay(t, nil, "journalist", "passwd", "jane", "--data", dir)
	mustRelay(t, nil, "journalist", "remove", "jane", "--data", dir)
	// A second daemon on the same directory is refused.
	if r := relay(t, nil, "demo", "--data", dir, "--intake", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--smtp", "127.0.0.1:0"); r.code != 1 {
		t.Fatalf("second demo: %+v", r)
	}

	p.stop(t)
	if strings.Contains(p.stderr.String(), info.Password) {
		t.Errorf("log holds the demo passphrase:\n%s", p.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "relay.sock")); !os.IsNotExist(err) {
		t.Fatalf("socket left after shutdown: %v", err)
	}

	// Reuse: same key, same passphrase (a Thunderbird set up against the
	// demo keeps working), demo.json rewritten, postern.conf naming the
	// ports this run listens on.
	_, info2 := startDemo(t, dir, conf)
	if info2.Password != info.Password {
		t.Fatal("the demo journalist's passphrase changed on reuse")
	}
	checkServices(t, info2)
	confListens(t, dir, info2)
	sec2, _ := os.ReadFile(info.SecretKeyFile)
	if !bytes.Equal(sec, sec2) {
		t.Fatal("secret key replaced on reuse")
	}
	if h := storedHashViaDemo(t, dir); h == "" {
		t.Fatal("no hash")
	}
}

// confListens checks that the demo's postern.conf lists the addresses the
// demo really listens on.
func confListens(t *testing.T, dir string, info demo.Info) {
	t.Helper()
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	intake := strings.TrimSuffix(strings.TrimPrefix(info.IntakeURL, "http://"), "/")
	if cfg.IntakeListen != intake || cfg.IMAPListen != info.IMAPAddr || cfg.SMTPListen != info.SMTPAddr {
		t.Fatalf("postern.conf listens on %s, %s, %s; the demo on %s, %s, %s",
			cfg.IntakeListen, cfg.IMAPListen, cfg.SMTPListen, intake, info.IMAPAddr, info.SMTPAddr)
	}
}

// storedHashViaDemo checks, through the socket, that the demo journalist
// still exists (the store itself is locked by the demo).
func storedHashViaDemo(t *testing.T, dir string) string {
	t.Helper()
	var list []admin.JournalistInfo
	json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "list", "--json", "--data", dir)), &list)
	if len(list) != 1 || list[0].Name != "demo" {
		t.Fatalf("after reuse: %+v", list)
	}
	return list[0].Fingerprint
}

func hexFpr(e *openpgp.Entity) string {
	const digits = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range e.PrimaryKey.Fingerprint {
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

// The demo never touches an instance that `relay init` made.
func TestDemoRefusesRealInstance(t *testing.T) {
	dir := newInstance(t)
	before := snapshot(t, dir)
	r := relay(t, nil, "demo", "--data", dir, "--intake", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--smtp", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "not made by 'relay demo'") {
		t.Fatalf("%+v", r)
	}
	if snapshot(t, dir) != before {
		t.Fatal("demo changed a real instance")
	}
	if r := relay(t, nil, "demo", "--data", dir, "--intake", "0.0.0.0:80"); r.code != 1 || !strings.Contains(r.stderr, "only loopback") {
		t.Fatalf("non-loopback: %+v", r)
	}
}

// checkServices checks that the demo's services answer: the form's landing
// page, and an IMAP LOGIN with the printed passphrase.
func checkServices(t *testing.T, info demo.Info) {
	t.Helper()
	resp, err := http.Get(info.IntakeURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("intake form: %s", resp.Status)
	}
	c, err := net.DialTimeout("tcp", info.IMAPAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	tp := textproto.NewConn(c)
	if l, err := tp.ReadLine(); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("IMAP greeting %q %v", l, err)
	}
	tp.PrintfLine(`a1 LOGIN demo "%s"`, info.Password)
	for {
		l, err := tp.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "a1 ") {
			if !strings.HasPrefix(l, "a1 OK") {
				t.Fatalf("IMAP login with the demo password: %q", l)
			}
			break
		}
	}
	tp.PrintfLine("a2 LOGOUT")
}

package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/reply"
	"postern/relay/demokey"
	"postern/tools/sourceclient"
)

// The Thunderbird test drives Debian's Thunderbird ESR (package thunderbird)
// on an Xvfb display (package xvfb) through Marionette, Gecko's remote
// protocol, spoken here by hand. The steps run as privileged chrome
// JavaScript inside Thunderbird, as its own UI code does.
const (
	thunderbirdBin = "thunderbird"
	xvfbBin        = "Xvfb"
	// tbStepLimit bounds each step: start-up, account set-up and sync,
	// showing the message.
	tbStepLimit = 2 * time.Minute
)

// TestThunderbird is a journalist reading a submission in a real
// Thunderbird: a source sends a message with non-ASCII text and two files
// (2 MiB of random bytes, a small UTF-8 text with a non-ASCII name); a fresh
// Thunderbird profile gets the journalist's secret key (a key like the one
// Thunderbird makes, listing ZLIB, so the relay compresses) and an IMAP
// account on the relay, syncs INBOX, shows the submission decrypted by its
// OpenPGP code, and saves both attachments, whose bytes must be the
// originals. Thunderbird's IMAP log must show COMPRESS=DEFLATE in use.
// Then the journalist presses Reply and sends a plaintext answer through the
// relay's SMTP, OpenPGP off for it; the source logs in with the codename and
// reads it, with nothing of the journalist's name or address on the page.
// Last the journalist imports and accepts the source's key attached to the
// submission and replies again, encrypted (to the source's key and the
// journalist's own), which the relay must take and show the source too.
func TestThunderbird(t *testing.T) {
	needThunderbird(t)
	in := newInstance(t, cheapConf)

	// The journalist's key as Thunderbird would make it: give it to the
	// relay, keep the secret half for Thunderbird (and for inbox).
	kp, err := demokey.New("Jane", "jane@newsroom.example")
	if err != nil {
		t.Fatal(err)
	}
	run(t, kp.Public, "journalist", "set-key", in.name, "--key", "-", "--data", in.dir)
	if in.keyring, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(kp.Secret)); err != nil {
		t.Fatal(err)
	}
	in.key = in.keyring[0]

	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay stderr (tail):\n%s", lastBytes(logs.Bytes(), 4000))
		}
	})

	// The source's submission.
	const (
		subject = "Leak: Überweisungen 2026 — Ωmega"
		line1   = "Grüße aus Köln! Документы во вложении — 機密文書."
		line2   = "Zweite Zeile: ✓ ñ ø ß ½ €"
		binName = "zufall-2MiB.bin"
		txtName = "notiz-ünicode.txt"
	)
	bin := make([]byte, 2<<20)
	rand.Read(bin)
	txt := []byte("Notiz über die Konten — ✓ 日本語\nzweite Zeile\n")
	c := sourceclient.New(p.intakeURL(), nil)
	codename, err := c.NewCodename(ctx(t, tbStepLimit))
	if err != nil {
		t.Fatalf("new codename: %v", err)
	}
	if err := c.Submit(ctx(t, tbStepLimit), subject, line1+"\n"+line2,
		sourceclient.File{Name: binName, R: bytes.NewReader(bin)},
		sourceclient.File{Name: txtName, R: bytes.NewReader(txt)}); err != nil {
		t.Fatalf("submit: %v", err)
	}

	tb := startThunderbird(t)

	// Key, account, INBOX.
	host, port, err := net.SplitHostPort(p.info.IMAPAddr)
	if err != nil {
		t.Fatal(err)
	}
	smtpPort := "0"
	if p.info.SMTPAddr != "" {
		_, smtpPort, _ = net.SplitHostPort(p.info.SMTPAddr)
	}
	var setup struct {
		Imported []string `json:"imported"`
		Asks     int      `json:"asks"`
		Total    int      `json:"total"`
		Hdrs     []struct {
			Key     int    `json:"key"`
			Subject string `json:"subject"`
			Size    int    `json:"size"`
		} `json:"hdrs"`
	}
	tb.script(t, "set-up", tbSetupJS, &setup, string(kp.Secret), kp.Fingerprint,
		in.name, host, atoi(t, port), atoi(t, smtpPort), in.pass, 1)
	t.Logf("Thunderbird: imported %v; INBOX %+v after %d update(s)", setup.Imported, setup.Hdrs, setup.Asks)
	if len(setup.Hdrs) != 1 {
		t.Fatalf("Thunderbird's INBOX holds %d messages, want 1: %+v", len(setup.Hdrs), setup.Hdrs)
	}

	// Show it, check the decryption, save the attachments.
	saveDir := t.TempDir()
	var view struct {
		Subject     string   `json:"subject"`
		Body        string   `json:"body"`
		EncIcon     string   `json:"encIcon"`
		EncState    any      `json:"encState"`
		Shown       []string `json:"shown"`
		Attachments []struct {
			Name        string `json:"name"`
			ContentType string `json:"contentType"`
			Size        int    `json:"size"`
			SavedTo     string `json:"savedTo"`
		} `json:"attachments"`
	}
	tb.script(t, "display", tbViewJS, &view, setup.Hdrs[0].Key, subject, line1, []string{binName, txtName}, saveDir)
	t.Logf("Thunderbird shows %q, attachments %q, OpenPGP icon %s, state %v", view.Subject, view.Shown, view.EncIcon, view.EncState)
	if !strings.Contains(view.EncIcon, "message-encrypted-ok") {
		t.Errorf("OpenPGP status icon is %q, want message-encrypted-ok", view.EncIcon)
	}
	if !strings.Contains(view.Subject, subject) {
		t.Errorf("shown subject %q lacks %q", view.Subject, subject)
	}
	if !strings.Contains(view.Body, line1) || !strings.Contains(view.Body, line2) {
		t.Errorf("shown body %q lacks %q or %q", view.Body, line1, line2)
	}
	want := map[string][]byte{binName: bin, txtName: txt}
	for _, a := range view.Attachments {
		orig, ok := want[a.Name]
		if !ok {
			continue
		}
		delete(want, a.Name)
		got, err := os.ReadFile(a.SavedTo)
		if err != nil {
			t.Errorf("attachment %q: %v", a.Name, err)
			continue
		}
		if !bytes.Equal(got, orig) {
			t.Errorf("attachment %q as Thunderbird saved it: %d bytes, want %d identical bytes", a.Name, len(got), len(orig))
		}
	}
	for name := range want {
		t.Errorf("Thunderbird lists no attachment %q: %+v", name, view.Attachments)
	}

	// COMPRESS=DEFLATE, as Thunderbird's IMAP log tells it.
	tb.waitIMAPLog(t, "COMPRESS DEFLATE", "OK DEFLATE active")

	// The journalist replies from Thunderbird.
	if p.info.SMTPAddr == "" {
		t.Fatal("relay serve runs no SMTP: the journalist cannot reply")
	}
	const (
		replyMarker = "MKtbReplyV5s"
		replyText   = "Danke für die Unterlagen — ответ ✓ " + replyMarker
	)
	tb.reply(t, "reply", replyText, line1, false)

	// The relay took it as a plaintext reply and kept it for the source.
	deadline := waitStored(t, in, 1)
	if st := relayStatus(t, in); strings.Contains(st.events(), reply.KindTeamCopy) {
		t.Errorf("the relay did not deliver the team's copy of Thunderbird's reply: %s", st.events())
	}

	// Thunderbird's copy in Sent, which the relay sealed to the journalist:
	// the text inside, nothing of it outside.
	sentBox, _ := mailbox(t, p, in, "Sent")
	if len(sentBox) != 1 {
		t.Fatalf("Sent holds %d readable messages, want Thunderbird's one copy", len(sentBox))
	}
	if bytes.Contains(sentBox[0].Raw, []byte(replyMarker)) {
		t.Error("the reply's text is in the clear in the Sent copy the relay stored")
	}
	if !strings.Contains(sentBox[0].Dec.Text, replyText) {
		t.Errorf("the Sent copy decrypts to %q, lacking %q", sentBox[0].Dec.Text, replyText)
	}

	// The source logs in with the codename and reads it.
	src := sourceclient.New(p.intakeURL(), nil)
	if err := src.Login(ctx(t, tbStepLimit), codename); err != nil {
		t.Fatalf("source login: %v", err)
	}
	var page sourceclient.Page
	for {
		page, err = src.Inbox(ctx(t, tbStepLimit))
		if err == nil && strings.Contains(page.Body, replyText) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the source's inbox lacks %q within %v (%v):\n%s", replyText, tbStepLimit, err, page.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	shown := page.Body
	if i := strings.Index(shown, `<article class="reply"`); i >= 0 {
		shown = shown[i:]
	}
	if j := strings.Index(shown, "</article>"); j >= 0 {
		shown = shown[:j]
	}
	t.Logf("the source reads:\n%s", shown)
	for _, who := range []string{"jane", "newsroom.example"} {
		if strings.Contains(strings.ToLower(page.Body), who) {
			t.Errorf("the source's inbox shows the journalist's %q:\n%s", who, shown)
		}
	}

	// Then the journalist accepts the source's key, attached to the
	// submission, and replies encrypted, Thunderbird's default for a reply
	// to an encrypted message: to the source's key and the journalist's own,
	// whose packet the relay strips.
	var accepted struct {
		Name string `json:"name"`
		Keys []struct {
			ID         string   `json:"id"`
			Fpr        string   `json:"fpr"`
			UserIDs    []string `json:"userIds"`
			Acceptance string   `json:"acceptance"`
		} `json:"keys"`
	}
	tb.script(t, "accept the source's key", tbAcceptKeyJS, &accepted, t.TempDir())
	t.Logf("Thunderbird accepted the source's key from %s: %+v", accepted.Name, accepted.Keys)
	if len(accepted.Keys) != 1 || accepted.Keys[0].Acceptance != "unverified" {
		t.Fatalf("the source's key was not imported and accepted: %+v", accepted)
	}
	const (
		encMarker = "MKtbEncReplyQ7w"
		encText   = "Verschlüsselte Antwort — зашифровано ✓ " + encMarker
	)
	// Its copy in Sent is over 4096 bytes, appended as "APPEND Sent (\Seen)
	// UTF8 (~{n}" (the IMAP library offers UTF8=ACCEPT): the guard once
	// refused that form of the message literal, and Thunderbird showed an
	// error after sending.
	tb.reply(t, "encrypted reply", encText, line1, true)
	deadline = waitStored(t, in, 2)
	for {
		page, err = src.Inbox(ctx(t, tbStepLimit))
		if err == nil && strings.Contains(page.Body, replyText) && strings.Contains(page.Body, encText) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the source's inbox lacks %q or %q within %v (%v):\n%s", replyText, encText, tbStepLimit, err, page.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, who := range []string{"jane", "newsroom.example"} {
		if strings.Contains(strings.ToLower(page.Body), who) {
			t.Errorf("after the encrypted reply, the source's inbox shows the journalist's %q:\n%s", who, page.Body)
		}
	}
	// Thunderbird's encrypted copy reached Sent and opens with the
	// journalist's key.
	sentBox, _ = mailbox(t, p, in, "Sent")
	if len(sentBox) != 2 || !strings.Contains(sentBox[1].Dec.Text, encText) {
		t.Errorf("Sent holds %d readable messages, want both replies, the second with %q", len(sentBox), encText)
	}
	if len(sentBox) == 2 && bytes.Contains(sentBox[1].Raw, []byte(encMarker)) {
		t.Error("the encrypted reply's text is in the clear in its Sent copy")
	}
}

// reply answers the message shown with Thunderbird's Reply button, text
// on top of the quote of quoted, encrypted or not, never signed, plain
// text, a copy kept in Sent (tbReplyJS).
func (tb *tbProc) reply(t *testing.T, step, text, quoted string, encrypt bool) {
	t.Helper()
	var sent struct {
		To        string   `json:"to"`
		Encrypted bool     `json:"encrypted"`
		Signed    bool     `json:"signed"`
		HTML      bool     `json:"html"`
		Status    []string `json:"status"`
	}
	tb.script(t, step, tbReplyJS, &sent, text, quoted, encrypt, true)
	t.Logf("Thunderbird's %s to %q (encrypted %v, signed %v, HTML %v): %v",
		step, sent.To, sent.Encrypted, sent.Signed, sent.HTML, sent.Status)
	if sent.Encrypted != encrypt || sent.Signed || sent.HTML {
		t.Fatalf("Thunderbird's %s: want plain text, unsigned, encrypted=%v; got %+v", step, encrypt, sent)
	}
}

// waitStored waits until the running relay holds n replies for sources (it
// logs nothing per reply; `relay status` counts them), and returns the
// deadline for what follows.
func waitStored(t *testing.T, in *instance, n int) time.Time {
	t.Helper()
	deadline := time.Now().Add(tbStepLimit)
	for got := relayStatus(t, in).Replies; got < n; got = relayStatus(t, in).Replies {
		if time.Now().After(deadline) {
			t.Fatalf("the relay holds %d stored replies after %v, want %d", got, tbStepLimit, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return deadline
}

// needThunderbird skips the test when Thunderbird or Xvfb is missing, and
// fails it under CI, which installs both.
func needThunderbird(t *testing.T) {
	t.Helper()
	needPrograms(t, "thunderbird xvfb", thunderbirdBin, xvfbBin)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tbProfilePrefs make a fresh profile start quietly: no first-run pages or
// dialogs, no update, telemetry or remote settings traffic, no mail check
// but the one the test asks for. marionette.port 0 makes Marionette bind a
// free port and write it to MarionetteActivePort in the profile.
const tbProfilePrefs = `user_pref("marionette.port", 0);
user_pref("mail.shell.checkDefaultClient", false);
user_pref("mail.provider.enabled", false);
user_pref("mailnews.start_page.enabled", false);
user_pref("mail.rights.version", 1);
user_pref("mail.winsearch.firstRunDone", true);
user_pref("mail.spotlight.firstRunDone", true);
user_pref("app.update.disabledForTesting", true);
user_pref("app.update.auto", false);
user_pref("extensions.update.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("toolkit.startup.max_resumed_crashes", -1);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("services.settings.server", "data:,#remote-settings-off");
user_pref("mail.biff.show_alert", false);
user_pref("mail.biff.play_sound", false);
user_pref("mail.imap.use_status_for_biff", false);
user_pref("mail.server.default.check_new_mail", false);
user_pref("mail.server.default.login_at_startup", false);
user_pref("mail.server.default.use_compress_deflate", true);
user_pref("devtools.console.stdout.chrome", true);
`

// tbProc is a Thunderbird on its own Xvfb display, with a Marionette
// session in chrome context.
type tbProc struct {
	dir     string // profile, logs
	out     string // Thunderbird's stdout and stderr
	imapLog string // MOZ_LOG_FILE; Gecko appends .moz_log
	conn    net.Conn
	r       *bufio.Reader
	id      int
}

// startThunderbird starts Xvfb on a display it picks itself (-displayfd),
// then Thunderbird with a fresh profile and Marionette, each in a process
// group of its own that cleanup kills, and opens a Marionette session.
func startThunderbird(t *testing.T) *tbProc {
	t.Helper()
	dir := t.TempDir()
	tb := &tbProc{dir: dir, out: filepath.Join(dir, "thunderbird.out"), imapLog: filepath.Join(dir, "imap.log")}
	display := startXvfb(t, dir)

	profile := filepath.Join(dir, "profile")
	home := filepath.Join(dir, "home")
	for _, d := range []string{profile, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(tbProfilePrefs), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(tb.out)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(thunderbirdBin, "--marionette", "-remote-allow-system-access", "--no-remote", "--profile", profile)
	cmd.Env = append(os.Environ(),
		"DISPLAY=:"+display,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"MOZ_CRASHREPORTER_DISABLE=1",
		"MOZ_DISABLE_CONTENT_SANDBOX=1",
		"MOZ_LOG=IMAP:3,timestamp",
		"MOZ_LOG_FILE="+tb.imapLog,
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		if tb.conn != nil {
			tb.conn.Close()
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(tb.out)
			t.Logf("Thunderbird stdout/stderr (tail):\n%s", lastBytes(b, 6000))
			t.Logf("Thunderbird IMAP log (tail):\n%s", tb.imapLogTail(6000))
		}
	})

	// Marionette writes its port once it listens.
	portFile := filepath.Join(profile, "MarionetteActivePort")
	started := time.Now()
	deadline := started.Add(tbStepLimit)
	for {
		select {
		case <-done:
			t.Fatalf("Thunderbird exited before Marionette listened: %v", cmd.ProcessState)
		default:
		}
		if b, err := os.ReadFile(portFile); err == nil {
			if port, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && port > 0 {
				if tb.conn, err = net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second); err == nil {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Thunderbird's Marionette did not listen within %v", tbStepLimit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("Thunderbird's Marionette listening after %v", time.Since(started).Round(time.Millisecond))
	tb.r = bufio.NewReader(tb.conn)
	tb.conn.SetDeadline(time.Now().Add(tbStepLimit))
	hello, err := tb.read()
	if err != nil {
		t.Fatalf("Marionette handshake: %v", err)
	}
	var hs struct {
		Protocol int `json:"marionetteProtocol"`
	}
	if err := json.Unmarshal(hello, &hs); err != nil || hs.Protocol != 3 {
		t.Fatalf("Marionette handshake %s: want protocol 3 (%v)", hello, err)
	}
	for _, c := range []struct {
		name   string
		params any
	}{
		{"WebDriver:NewSession", map[string]any{"strictFileInteractability": false}},
		{"Marionette:SetContext", map[string]string{"value": "chrome"}},
		// The scripts bound their own waits by tbStepLimit.
		{"WebDriver:SetTimeouts", map[string]int64{"script": (tbStepLimit + time.Minute).Milliseconds()}},
	} {
		if _, err := tb.command(c.name, c.params, tbStepLimit); err != nil {
			t.Fatalf("Marionette %s: %v", c.name, err)
		}
	}
	return tb
}

// startXvfb starts Xvfb, which picks a free display number and writes it to
// the pipe given as -displayfd, and returns that number.
func startXvfb(t *testing.T, dir string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := os.Create(filepath.Join(dir, "xvfb.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(xvfbBin, "-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "1400x1000x24")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	r.SetReadDeadline(time.Now().Add(tbStepLimit))
	line, err := bufio.NewReader(r).ReadString('\n')
	if _, aerr := strconv.Atoi(strings.TrimSpace(line)); err != nil || aerr != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("Xvfb did not name its display (%q, %v):\n%s", line, err, lastBytes(b, 4000))
	}
	return strings.TrimSpace(line)
}

// read returns one Marionette message: "<length>:<json>".
func (tb *tbProc) read() ([]byte, error) {
	n, err := tb.r.ReadString(':')
	if err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(n[:len(n)-1])
	if err != nil || size < 0 || size > 64<<20 {
		return nil, fmt.Errorf("bad Marionette length prefix %q", n)
	}
	b := make([]byte, size)
	_, err = io.ReadFull(tb.r, b)
	return b, err
}

// command sends [0, id, name, params] and returns the result of the
// matching [1, id, error, result].
func (tb *tbProc) command(name string, params any, limit time.Duration) (json.RawMessage, error) {
	tb.id++
	msg, err := json.Marshal([]any{0, tb.id, name, params})
	if err != nil {
		return nil, err
	}
	tb.conn.SetDeadline(time.Now().Add(limit))
	if _, err := fmt.Fprintf(tb.conn, "%d:%s", len(msg), msg); err != nil {
		return nil, err
	}
	for {
		b, err := tb.read()
		if err != nil {
			return nil, err
		}
		var resp []json.RawMessage
		if err := json.Unmarshal(b, &resp); err != nil || len(resp) != 4 {
			return nil, fmt.Errorf("bad Marionette message %.300s", b)
		}
		var typ, id int
		json.Unmarshal(resp[0], &typ)
		json.Unmarshal(resp[1], &id)
		if typ != 1 || id != tb.id {
			continue
		}
		if s := string(resp[2]); s != "null" {
			var e struct {
				Error, Message, Stacktrace string
			}
			json.Unmarshal(resp[2], &e)
			return nil, fmt.Errorf("%s: %s\n%s", e.Error, e.Message, lastBytes([]byte(e.Stacktrace), 1500))
		}
		return resp[3], nil
	}
}

// script runs js as a privileged async chrome script with args (the
// script's last argument is the bound in milliseconds, then resolve), and
// decodes what it resolves into out. A script that throws resolves
// {error, stack}, which fails the test.
func (tb *tbProc) script(t *testing.T, step, js string, out any, args ...any) {
	t.Helper()
	wrapped := "const resolve = arguments[arguments.length - 1];\n" +
		"const limitMS = arguments[arguments.length - 2];\n" +
		"(async () => {\n" + tbHelpersJS + js + "\n})().then(v => resolve({ok: v}), e => resolve({error: String(e), stack: e && e.stack}));"
	start := time.Now()
	defer func() { t.Logf("Thunderbird %s took %v", step, time.Since(start).Round(time.Millisecond)) }()
	res, err := tb.command("WebDriver:ExecuteAsyncScript", map[string]any{
		"script":     wrapped,
		"args":       append(args, tbStepLimit.Milliseconds()),
		"newSandbox": true,
	}, tbStepLimit+2*time.Minute)
	if err != nil {
		tb.diagnose(t)
		t.Fatalf("Thunderbird %s: %v", step, err)
	}
	var r struct {
		Value struct {
			OK    json.RawMessage `json:"ok"`
			Error string          `json:"error"`
			Stack string          `json:"stack"`
		} `json:"value"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatalf("Thunderbird %s: result %.500s: %v", step, res, err)
	}
	if r.Value.Error != "" {
		tb.diagnose(t)
		t.Fatalf("Thunderbird %s: %s\n%s", step, r.Value.Error, r.Value.Stack)
	}
	if err := json.Unmarshal(r.Value.OK, out); err != nil {
		t.Fatalf("Thunderbird %s: result %.500s: %v", step, r.Value.OK, err)
	}
}

// diagnose logs Thunderbird's recent console errors, if it still answers.
func (tb *tbProc) diagnose(t *testing.T) {
	t.Helper()
	res, err := tb.command("WebDriver:ExecuteScript", map[string]any{"script": tbDiagJS, "newSandbox": true}, 20*time.Second)
	if err != nil {
		t.Logf("Thunderbird console: unavailable: %v", err)
		return
	}
	var r struct {
		Value string `json:"value"`
	}
	json.Unmarshal(res, &r)
	t.Logf("Thunderbird console (recent):\n%s", lastBytes([]byte(r.Value), 8000))
}

// waitIMAPLog waits until Thunderbird's IMAP log (written asynchronously)
// shows command sent and answered with reply.
func (tb *tbProc) waitIMAPLog(t *testing.T, command, reply string) {
	t.Helper()
	deadline := time.Now().Add(tbStepLimit)
	for {
		sent, answered, err := tb.grepIMAPLog(command, reply)
		if err == nil && sent && answered {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Thunderbird's IMAP log shows no %q (found: %v) answered %q (found: %v) within %v: %v",
				command, sent, reply, answered, tbStepLimit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// grepIMAPLog reports whether some line sends command ("SendData: <tag>
// <command>") and a later one receives "<same tag> <reply>".
func (tb *tbProc) grepIMAPLog(command, reply string) (sent, answered bool, err error) {
	files, _ := filepath.Glob(tb.imapLog + "*")
	if len(files) == 0 {
		return false, false, errors.New("no IMAP log file")
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return false, false, err
		}
		tags := map[string]bool{}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			l := sc.Text()
			if _, after, ok := strings.Cut(l, ":SendData: "); ok {
				if tag, cmd, ok := strings.Cut(strings.TrimSpace(after), " "); ok && cmd == command {
					tags[tag] = true
					sent = true
				}
			}
			if _, after, ok := strings.Cut(l, ":CreateNewLineFromSocket: "); ok {
				if tag, rest, ok := strings.Cut(strings.TrimSpace(after), " "); ok && tags[tag] && rest == reply {
					answered = true
				}
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return sent, answered, err
		}
		if sent && answered {
			return true, true, nil
		}
	}
	return sent, answered, nil
}

// imapLogTail is the end of the biggest IMAP log file.
func (tb *tbProc) imapLogTail(n int) []byte {
	files, _ := filepath.Glob(tb.imapLog + "*")
	var best []byte
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && len(b) > len(best) {
			best = b
		}
	}
	return lastBytes(best, n)
}

// tbHelpersJS opens every script: modules, sleep, and until, which polls
// f every 100 ms until it returns something truthy or limitMS is over.
const tbHelpersJS = `
const { setTimeout } = ChromeUtils.importESModule("resource://gre/modules/Timer.sys.mjs");
const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const sleep = ms => new Promise(r => setTimeout(r, ms));
const deadline = Date.now() + limitMS;
async function until(what, f, state) {
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) {
      let s = "";
      try { s = state ? ": " + JSON.stringify(state()) : ""; } catch (e) { s = ": " + e; }
      throw new Error("timed out waiting for " + what + s);
    }
    await sleep(100);
  }
}
`

// tbSetupJS imports the journalist's secret key as a personal key, creates
// the IMAP account (plain connection, normal password) with an identity
// and SMTP server, and syncs INBOX until it holds want messages.
// Arguments: secret key, fingerprint, user, host, IMAP port, SMTP port,
// password, want.
const tbSetupJS = `
const { RNP } = ChromeUtils.importESModule("chrome://openpgp/content/modules/RNP.sys.mjs");
const { PgpSqliteDb2 } = ChromeUtils.importESModule("chrome://openpgp/content/modules/sqliteDb.sys.mjs");
const { EnigmailCore } = ChromeUtils.importESModule("chrome://openpgp/content/modules/core.sys.mjs");
const { OpenPGPMasterpass } = ChromeUtils.importESModule("chrome://openpgp/content/modules/masterpass.sys.mjs");
const { EnigmailKeyRing } = ChromeUtils.importESModule("chrome://openpgp/content/modules/keyRing.sys.mjs");
const { BondOpenPGP } = ChromeUtils.importESModule("chrome://openpgp/content/BondOpenPGP.sys.mjs");
const [keyText, fpr, user, host, port, smtpPort, pass, want] = arguments;
const win = await until("the 3-pane window", () => {
  const w = Services.wm.getMostRecentWindow("mail:3pane");
  return w && w.document.readyState === "complete" && w;
});
// The window's delayed start-up initialises OpenPGP; starting it here too
// is harmless (it runs once).
BondOpenPGP.init().catch(() => {});
await until("OpenPGP to initialise",
  () => RNP.libLoaded && EnigmailCore._initialized && OpenPGPMasterpass.cachedPassword,
  () => ({ lib: RNP.libLoaded, core: EnigmailCore._initialized, pass: !!OpenPGPMasterpass.cachedPassword }));
const passCB = (w, prompt, resultFlags) => { resultFlags.canceled = false; return ""; };
const res = await RNP.importSecKeyBlockImpl(win, passCB, false, keyText, []);
const keyID = "0x" + fpr.slice(-16);
if (res.exitCode !== 0 || !(res.importedKeys || []).includes(keyID)) {
  throw new Error("secret key import: " + JSON.stringify(res));
}
await PgpSqliteDb2.acceptAsPersonalKey(fpr);
EnigmailKeyRing.clearCache();

const server = MailServices.accounts.createIncomingServer(user, host, "imap");
server.port = port;
server.socketType = Ci.nsMsgSocketType.plain;
server.authMethod = Ci.nsMsgAuthMethod.passwordCleartext;
server.password = pass;
const identity = MailServices.accounts.createIdentity();
identity.email = user + "@newsroom.example";
identity.fullName = "Jane";
if (smtpPort) {
  const smtp = MailServices.outgoingServer.createServer("smtp");
  smtp.QueryInterface(Ci.nsISmtpServer);
  smtp.hostname = host;
  smtp.port = smtpPort;
  smtp.socketType = Ci.nsMsgSocketType.plain;
  smtp.authMethod = Ci.nsMsgAuthMethod.passwordCleartext;
  smtp.username = user;
  smtp.password = pass;
  identity.smtpServerKey = smtp.key;
}
identity.setUnicharAttribute("openpgp_key_id", fpr.slice(-16));
identity.setBoolAttribute("sign_mail", false);
identity.setIntAttribute("encryptionpolicy", 0);
const account = MailServices.accounts.createAccount();
account.incomingServer = server;
account.addIdentity(identity);

const inbox = await until("INBOX to exist",
  () => server.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox));
let asked = 0, asks = 0;
await until("INBOX to hold " + want + " message(s)", () => {
  if (Date.now() - asked > 10000) { // ask again now and then
    asked = Date.now();
    asks++;
    inbox.updateFolder(null);
  }
  return inbox.getTotalMessages(false) >= want;
}, () => ({ total: inbox.getTotalMessages(false), serverBusy: server.serverBusy }));
return {
  imported: res.importedKeys,
  asks,
  total: inbox.getTotalMessages(false),
  hdrs: [...inbox.messages].map(h => ({ key: h.messageKey, subject: h.mime2DecodedSubject, size: h.messageSize })),
};
`

// tbViewJS shows one message (by key) in the 3-pane as a click would, waits
// until Thunderbird's OpenPGP code has decrypted it (status icon, subject
// and body shown, attachments listed), then saves the named attachments
// with AttachmentInfo.saveToFile, what "Save" does after the file picker.
// Arguments: message key, subject, a line of the body, attachment names,
// folder to save to.
const tbViewJS = `
const [key, subject, line, names, saveDir] = arguments;
const win = Services.wm.getMostRecentWindow("mail:3pane");
const server = MailServices.accounts.allServers.find(s => s.type === "imap");
const inbox = server.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
const hdr = inbox.GetMessageHeader(key);
const about3Pane = await until("the 3-pane tab", () => {
  const a = win.gTabmail?.currentAbout3Pane;
  return a && a.document.readyState === "complete" && a.threadTree && a;
});
about3Pane.displayFolder(inbox);
// Opening the folder updates it from the server; once that is done the
// 3-pane restores its saved selection and resets the thread tree, which
// can leave a message being shown by then with an empty header pane.
// Select only after it, as a user would click a list that has settled.
await until("INBOX to be shown and loaded", () => about3Pane.gFolder === inbox &&
    about3Pane.dbViewWrapperListener?.allMessagesLoaded && about3Pane.gDBView?.rowCount >= 1,
  () => ({ folder: about3Pane.gFolder?.URI, loaded: about3Pane.dbViewWrapperListener?.allMessagesLoaded, rows: about3Pane.gDBView?.rowCount }));
about3Pane.selectMessage(hdr);
const state = () => {
  const am = about3Pane.messageBrowser.contentWindow;
  const ad = am?.document;
  const s = {
    uri: am?.gMessageURI,
    subject: ad?.getElementById("expandedsubjectBox")?.textContent,
    encIcon: ad?.getElementById("encryptedHdrIcon")?.hidden === false ? ad.getElementById("encryptedHdrIcon").getAttribute("src") : "(hidden)",
    shown: [...(ad?.getElementById("attachmentList")?.children || [])].map(e => e.getAttribute("name")),
    attachments: (am?.currentAttachments || []).map(a => a.name),
  };
  try { s.body = am.getMessagePaneBrowser().contentDocument?.body?.innerText; } catch (e) { s.body = String(e); }
  try { s.encState = { enc: am.Enigmail?.hdrView?.msgEncryptionState, sig: am.Enigmail?.hdrView?.msgSignatureState }; } catch (e) {}
  return s;
};
await until("the message to show decrypted", () => {
  const s = state();
  return s.uri === inbox.getUriForMsg(hdr) && s.encIcon.includes("encrypted-ok") &&
    s.subject?.includes(subject) && s.body?.includes(line) && names.every(n => s.attachments.includes(n));
}, state);
const out = state();
const am = about3Pane.messageBrowser.contentWindow;
out.attachments = [];
for (const a of am.currentAttachments) {
  const rec = { name: a.name, contentType: a.contentType, size: a.size };
  if (names.includes(a.name)) {
    rec.savedTo = PathUtils.join(saveDir, a.name);
    await a.saveToFile(rec.savedTo, true);
  }
  out.attachments.push(rec);
}
return out;
`

// tbAcceptKeyJS does what the journalist does with the source's key
// attached to the message shown in the 3-pane (OpenPGP_0x….asc): imports
// it and accepts it (as "unverified", "I have not verified this key"),
// which Thunderbird's key import records for every address in the key's
// user IDs. It saves the attachment to dir to read it.
// Arguments: folder to save to.
const tbAcceptKeyJS = `
const { RNP } = ChromeUtils.importESModule("chrome://openpgp/content/modules/RNP.sys.mjs");
const { PgpSqliteDb2 } = ChromeUtils.importESModule("chrome://openpgp/content/modules/sqliteDb.sys.mjs");
const { EnigmailKeyRing } = ChromeUtils.importESModule("chrome://openpgp/content/modules/keyRing.sys.mjs");
const [dir] = arguments;
const win = Services.wm.getMostRecentWindow("mail:3pane");
const am = win.gTabmail.currentAbout3Pane.messageBrowser.contentWindow;
const att = (am.currentAttachments || []).find(a => /^OpenPGP_0x[0-9A-F]+\.asc$/i.test(a.name));
if (!att) throw new Error("no OpenPGP_0x….asc attachment: " + (am.currentAttachments || []).map(a => a.name).join(", "));
const path = PathUtils.join(dir, att.name);
await att.saveToFile(path, true);
const keyText = await IOUtils.readUTF8(path);
const res = await RNP.importPubkeyBlockAutoAcceptImpl(win, keyText, "unverified");
if (res.exitCode !== 0 || !(res.importedKeys || []).length) {
  throw new Error("public key import: " + JSON.stringify(res));
}
EnigmailKeyRing.clearCache();
const keys = [];
for (const id of res.importedKeys) {
  const k = EnigmailKeyRing.getKeyById(id);
  if (!k) throw new Error("imported key " + id + " not in the key ring");
  const emails = k.userIds.map(u => u.userId);
  const acceptance = await PgpSqliteDb2.getFingerprintAcceptance(null, k.fpr);
  keys.push({ id, fpr: k.fpr, userIds: emails, acceptance });
}
return { name: att.name, keys };
`

// tbReplyJS answers the message shown in the 3-pane as the Reply button
// does (cmd_reply in the message pane), composing plain text. It sets
// OpenPGP encryption on or off (Thunderbird turns it on for a reply to an
// encrypted message) and signing off for this message as a click on those
// buttons would, types the text at the top of the body, sends, and waits
// until the compose window closes after the send and the copy to Sent. A
// prompt (a send or copy error) fails the script with its text.
// Arguments: the text, a line of the original (quoted once decrypted),
// whether to encrypt, whether to keep a copy in Sent.
const tbReplyJS = `
const [text, quoted, encrypt, sentCopy] = arguments;
const win = Services.wm.getMostRecentWindow("mail:3pane");
const server = MailServices.accounts.allServers.find(s => s.type === "imap");
const identity = MailServices.accounts.getFirstIdentityForServer(server);
identity.composeHtml = false;
identity.doFcc = sentCopy;
const am = win.gTabmail.currentAbout3Pane.messageBrowser.contentWindow;
await until("Reply to be enabled", () => am.commandController?.isCommandEnabled("cmd_reply"));
const before = new Set(Services.wm.getEnumerator("msgcompose"));
am.commandController.doCommand("cmd_reply");
const prompts = () => [...Services.wm.getEnumerator(null)]
  .filter(w => w.location?.href?.includes("commonDialog"))
  .map(w => w.document.getElementById("infoBody")?.textContent || w.document.title);
const cw = await until("the compose window", () => {
  if (prompts().length) throw new Error("prompt: " + prompts().join(" | "));
  for (const w of Services.wm.getEnumerator("msgcompose")) {
    if (!before.has(w) && w.document.readyState === "complete" && w.gLoadingComplete && w.gMsgCompose?.editor) return w;
  }
});
const editor = cw.gMsgCompose.editor;
const bodyText = () => editor.outputToString("text/plain", 0);
await until("the decrypted quote in the compose body", () => bodyText().includes(quoted),
  () => ({ body: bodyText().slice(0, 500) }));
// Encryption on or off, signing off, as the user would click them.
cw.gUserTouchedSendEncrypted = true;
cw.gUserTouchedSendSigned = true;
if (cw.gSendEncrypted !== encrypt) cw.onEncryptionChoice("enc");
if (cw.gSendSigned) cw.onEncryptionChoice("sig");
if (cw.gSendEncrypted !== encrypt || cw.gSendSigned) {
  throw new Error("OpenPGP choice: encrypted " + cw.gSendEncrypted + ", signed " + cw.gSendSigned);
}
// Type at the top, above the quote.
cw.focusMsgBody();
editor.beginningOfDocument();
editor.insertText(text);
editor.insertLineBreak();
editor.insertLineBreak();
await until("the text in the compose body", () => bodyText().includes(text), () => ({ body: bodyText().slice(0, 500) }));
const out = {
  to: cw.gMsgCompose.compFields.to,
  encrypted: cw.gSendEncrypted, signed: cw.gSendSigned, html: cw.gMsgCompose.composeHTML,
  status: [],
};
cw.gMsgCompose.addMsgSendListener({
  QueryInterface: ChromeUtils.generateQI(["nsIMsgSendListener"]),
  onStartSending() {}, onSendProgress() {}, onStatus() {}, onGetDraftFolderURI() {},
  onTransportSecurityError() {},
  onStopSending(id, status) { out.status.push("sent 0x" + (status >>> 0).toString(16)); },
  onSendNotPerformed() {},
});
if (!cw.defaultController.isCommandEnabled("cmd_sendNow")) throw new Error("Send is disabled");
cw.goDoCommand("cmd_sendNow");
await until("the compose window to close after sending", () => {
  if (prompts().length) throw new Error("prompt: " + prompts().join(" | "));
  return cw.closed;
}, () => out);
if (!out.status.includes("sent 0x0")) throw new Error("send status: " + out.status.join(", "));
return out;
`

// tbDiagJS returns recent console errors and OpenPGP messages.
const tbDiagJS = `
return Services.console.getMessageArray()
  .filter(m => (m instanceof Ci.nsIScriptError) ? !(m.flags & 1) : /rror|OpenPGP|IMAP/i.test(m.message))
  .slice(-40)
  .map(m => (m.errorMessage || m.message || "").slice(0, 300) + (m.sourceName ? " @" + m.sourceName.split("/").pop() + ":" + m.lineNumber : ""))
  .join("\n");
`

package e2e_test

import (
	"bufio"
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
)

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

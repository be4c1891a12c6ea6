package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/relay/serve"
)

// env is one benchmark run: the relay binary built once, a scratch
// directory, and the tools found on $PATH.
type env struct {
	work  string // scratch directory, removed at the end
	relay string // the relay binary (built without -race, -trimpath)
}

// buildRelay builds the binary the way `make build` does.
func (e *env) buildRelay() error {
	e.relay = filepath.Join(e.work, "relay")
	cmd := exec.Command("go", "build", "-trimpath", "-o", e.relay, "postern/relay/cmd/relay")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building relay: %w", err)
	}
	return nil
}

// journalist is a journalist of a bench instance, private key included.
type journalist struct {
	name, pass string
	key        *openpgp.Entity
	armored    []byte
}

// instance is a relay data directory.
type instance struct {
	dir string
	js  []journalist
}

// newInstance runs `relay init` with conf and adds n journalists whose keys
// are derived (Curve25519, ZLIB listed in their preferences as in keys made
// by Thunderbird and gpg).
func (e *env) newInstance(name, conf string, n int) (*instance, error) {
	base := filepath.Join(e.work, name)
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, err
	}
	cf := filepath.Join(base, "seed.conf")
	// Submissions go into the mailboxes at once: the rows measure the
	// paths, and the default delivery window (10 minutes) would hold every
	// submission back past the measurement.
	conf = "delivery_window_minutes = 0\n" + conf
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	in := &instance{dir: filepath.Join(base, "d")}
	if _, err := e.run(nil, "init", "--data", in.dir, "--config", cf); err != nil {
		return nil, err
	}
	for i := range n {
		jn := fmt.Sprintf("j%d", i)
		seed := sha256.Sum256([]byte("postern bench " + jn))
		key, err := pgp.DeriveKey(seed[:], jn+" <"+jn+"@newsroom.example>")
		if err != nil {
			return nil, err
		}
		arm, err := pgp.Armor(key)
		if err != nil {
			return nil, err
		}
		out, err := e.run(arm, "journalist", "add", jn, "--key", "-", "--data", in.dir, "--json")
		if err != nil {
			return nil, err
		}
		var added struct {
			Passphrase string `json:"passphrase"`
		}
		if err := json.Unmarshal(out, &added); err != nil {
			return nil, fmt.Errorf("journalist add: %w", err)
		}
		in.js = append(in.js, journalist{name: jn, pass: added.Passphrase, key: key, armored: arm})
	}
	return in, nil
}

func (e *env) run(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(e.relay, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("relay %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out, nil
}

// proc is a running `relay serve --without-tor-for-tests-only`.
type proc struct {
	cmd  *exec.Cmd
	info serve.Info
	done chan struct{}
	log  bytes.Buffer
}

// start runs the relay on loopback port 0 and reads the bound ports from
// its --json line.
func (e *env) start(in *instance) (*proc, error) {
	cmd := exec.Command(e.relay, "serve", "--data", in.dir, "--json", "--without-tor-for-tests-only",
		"--intake", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--smtp", "127.0.0.1:0")
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &p.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(p.done)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			<-p.done
			return nil, fmt.Errorf("relay serve exited: %s", p.log.String())
		}
		if err := json.Unmarshal([]byte(l), &p.info); err != nil {
			p.stop()
			return nil, fmt.Errorf("relay serve --json: %w", err)
		}
	case <-time.After(2 * time.Minute):
		p.stop()
		return nil, fmt.Errorf("relay serve did not start")
	}
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits (SIGKILL after 30 s).
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTick = 100

// cpuTime returns the user+system CPU time the process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return ticks(f[11:13]) // fields 14, 15: utime, stime
}

// treeCPU returns the user+system CPU time used so far by root and every
// process descending from it, including the children they have reaped
// (cutime, cstime): Dovecot's master forks a login and an imap process
// per session, and reaps them when they end, so their time moves into its
// cutime and is not lost between two readings.
func treeCPU(root int) (time.Duration, error) {
	var sum time.Duration
	for _, pid := range processTree(root) {
		f, err := statFields(pid)
		if err != nil {
			if pid == root {
				return 0, err
			}
			continue // ended between the listing and the read
		}
		t, err := ticks(f[11:15]) // fields 14–17: utime, stime, cutime, cstime
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// statFields returns the fields of /proc/PID/stat after the command name
// (field 3 first), at least 15 of them.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name (field 2) may contain spaces: fields after it
	// start after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return nil, fmt.Errorf("short /proc/%d/stat", pid)
	}
	return f, nil
}

// ticks sums clock-tick counts.
func ticks(fs []string) (time.Duration, error) {
	var n int64
	for _, s := range fs {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad /proc stat field %q", s)
		}
		n += v
	}
	return time.Duration(n) * time.Second / clockTick, nil
}

// memory returns VmRSS and VmHWM (peak RSS) of the process, in bytes.
func memory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, nil
}

package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/relay/demokey"
	"postern/tools/corpus"
)

// openResult compares `relay reader open` with gpg on the same messages.
type openResult struct {
	n                   int
	bytes               int64 // ciphertext mail
	relayCPU, relayWall time.Duration
	gpgCPU, gpgWall     time.Duration // gpg's rusage plus its agent's CPU
}

// benchOpen writes n submissions of the realistic size mix (100 sources, a
// text and, past 4 KiB, a random attachment, as the relay delivers them) into
// a reader home, exports them, and measures the CPU of `relay reader open
// --no-clean` (verify, decrypt, parse, write files and transcripts; mat2 is
// not counted) and of `gpg --multifile --decrypt` over the same messages'
// armored blocks, one gpg process as one relay process, its agent included.
func (e *env) benchOpen(n int) (openResult, error) {
	r := openResult{n: n}
	kp, err := demokey.New("Bench Journalist", "bench@newsroom.example")
	if err != nil {
		return r, err
	}
	jkeys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(kp.Public))
	if err != nil {
		return r, err
	}
	home := filepath.Join(e.work, "reader-home")
	cur := filepath.Join(home, "maildir", "INBOX", "cur")
	gpgIn := filepath.Join(e.work, "reader-gpg")
	for _, d := range []string{cur, gpgIn} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return r, err
		}
	}
	var srcs []*openpgp.Entity
	for i := range 100 {
		seed := sha256.Sum256([]byte(fmt.Sprintf("bench source %d", i)))
		k, err := pgp.DeriveKey(seed[:], fmt.Sprintf("source %d <s%d@relay.example>", i, i))
		if err != nil {
			return r, err
		}
		srcs = append(srcs, k)
	}
	for i, size := range corpus.Sizes(n) {
		var b bytes.Buffer
		s := i % len(srcs)
		w, err := pgpmime.NewWriter(&b, jkeys, pgpmime.Header{FromName: fmt.Sprintf("source %d", s),
			FromAddr: fmt.Sprintf("s%d@relay.example", s), To: "newsroom@relay.example",
			InReplyTo: fmt.Sprintf("t%d@relay.example", s), Autocrypt: srcs[s]})
		if err != nil {
			return r, err
		}
		text := min(size, 2<<10)
		if err := w.Text(readAllString(textReader(int64(i), int64(text)))); err != nil {
			return r, err
		}
		if size > 4<<10 {
			fw, err := w.File(fmt.Sprintf("document-%d.pdf", i), "application/pdf")
			if err != nil {
				return r, err
			}
			if _, err := io.Copy(fw, randomReader(uint64(i), int64(size-text))); err != nil {
				return r, err
			}
		}
		if err := w.Close(); err != nil {
			return r, err
		}
		r.bytes += int64(b.Len())
		if err := os.WriteFile(filepath.Join(cur, fmt.Sprintf("1-%d:2,", i+1)), b.Bytes(), 0o600); err != nil {
			return r, err
		}
		armored := b.Bytes()[bytes.Index(b.Bytes(), []byte("-----BEGIN PGP MESSAGE-----")):]
		if err := os.WriteFile(filepath.Join(gpgIn, fmt.Sprintf("%d.asc", i+1)), armored, 0o600); err != nil {
			return r, err
		}
	}
	stick := filepath.Join(e.work, "reader-stick")
	if _, err := e.run(nil, "reader", "export", "--dir", home, "--to", stick); err != nil {
		return r, err
	}
	keyFile := filepath.Join(e.work, "reader-key.asc")
	if err := os.WriteFile(keyFile, kp.Secret, 0o600); err != nil {
		return r, err
	}

	cmd := exec.Command(e.relay, "reader", "open", "--from", stick, "--key", keyFile,
		"--out", filepath.Join(e.work, "reader-out"), "--online-ok", "--no-clean")
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return r, fmt.Errorf("reader open: %v\n%s", err, out)
	}
	r.relayWall = time.Since(t0)
	r.relayCPU = rusageCPU(cmd)

	gnupg := filepath.Join(e.work, "reader-gnupg")
	os.MkdirAll(gnupg, 0o700)
	imp := exec.Command("gpg", "--homedir", gnupg, "--batch", "--quiet", "--import")
	imp.Stdin = bytes.NewReader(kp.Secret)
	if out, err := imp.CombinedOutput(); err != nil {
		return r, fmt.Errorf("gpg --import: %v\n%s", err, out)
	}
	agent0 := agentCPU(gnupg)
	files, _ := filepath.Glob(filepath.Join(gpgIn, "*.asc"))
	g := exec.Command("gpg", append([]string{"--homedir", gnupg, "--batch", "--yes", "--quiet", "--multifile", "--decrypt"}, files...)...)
	t0 = time.Now()
	if out, err := g.CombinedOutput(); err != nil {
		return r, fmt.Errorf("gpg --decrypt: %v\n%s", err, out)
	}
	r.gpgWall = time.Since(t0)
	r.gpgCPU = rusageCPU(g) + agentCPU(gnupg) - agent0
	return r, nil
}

func readAllString(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}

func rusageCPU(cmd *exec.Cmd) time.Duration {
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// agentCPU is the CPU time of the gpg-agent serving homedir (0 before it
// starts): it does the public-key step of every decryption.
func agentCPU(homedir string) time.Duration {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("gpg-agent")) || !bytes.Contains(b, []byte(homedir)) {
			continue
		}
		var pid int
		fmt.Sscanf(strings.TrimPrefix(p, "/proc/"), "%d", &pid)
		if t, err := cpuTime(pid); err == nil {
			return t
		}
	}
	return 0
}

// openRow is the table's line for benchOpen.
func openRow(e *env, n int, fail func(string, error)) []row {
	r, err := e.benchOpen(n)
	if err != nil {
		fail("(k) reader open", err)
		return nil
	}
	ratio := r.relayCPU.Seconds() / r.gpgCPU.Seconds()
	return []row{{
		fmt.Sprintf("(k) reader open of %d messages (%.2f GB, realistic mix), CPU, relay ÷ gpg --multifile --decrypt", r.n, float64(r.bytes)/1e9),
		fmt.Sprintf("%.2f (relay %.2fs CPU, %.2fs wall, mat2 not counted; gpg with its agent %.2fs CPU, %.2fs wall)",
			ratio, r.relayCPU.Seconds(), r.relayWall.Seconds(), r.gpgCPU.Seconds(), r.gpgWall.Seconds()),
		"≤ 1.00", verdict(ratio <= 1.0)}}
}

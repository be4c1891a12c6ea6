// Package pgptest drives real OpenPGP tools (gpg, rnp, sq) from tests, so
// that what Postern writes is checked by the programs journalists use.
package pgptest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NeedTool returns the path of a command-line tool, skipping the test when
// it is missing; under CI=true a missing tool is a failure instead.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required under CI)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// Run runs a command with stdin and returns its stdout, failing the test
// with stderr on error.
func Run(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, errOut, err := RunErr(stdin, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errOut)
	}
	return out
}

// RunErr runs a command and returns stdout, stderr and the error.
func RunErr(stdin []byte, env []string, name string, args ...string) ([]byte, []byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.Bytes(), errOut.Bytes(), err
}

// GPG is a gpg with its own home directory under t.TempDir().
type GPG struct {
	t    testing.TB
	Home string
}

// NewGPG makes an empty keyring (skipping when gpg is missing).
func NewGPG(t testing.TB) *GPG {
	t.Helper()
	NeedTool(t, "gpg")
	home := filepath.Join(t.TempDir(), "gnupg")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &GPG{t: t, Home: home}
	t.Cleanup(func() {
		// Stop the agent this home started; it would outlive the test.
		_, _, _ = RunErr(nil, nil, "gpgconf", "--homedir", home, "--kill", "all")
	})
	return g
}

// Run runs gpg in batch mode on this home and returns stdout.
func (g *GPG) Run(stdin []byte, args ...string) []byte {
	g.t.Helper()
	return Run(g.t, stdin, "gpg", append([]string{"--homedir", g.Home, "--batch", "--yes", "--no-tty",
		"--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
}

// RunErr is Run that returns the error instead of failing.
func (g *GPG) RunErr(stdin []byte, args ...string) ([]byte, []byte, error) {
	return RunErr(stdin, nil, "gpg", append([]string{"--homedir", g.Home, "--batch", "--yes", "--no-tty",
		"--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
}

// GenKey makes a key with gpg --quick-gen-key (algo as gpg spells it:
// "rsa3072", "future-default", "ed25519"...; expire "never", "1d"...) and
// returns its fingerprint.
func (g *GPG) GenKey(uid, algo, usage, expire string) string {
	g.t.Helper()
	g.Run(nil, "--quick-gen-key", uid, algo, usage, expire)
	return g.Fingerprint(uid)
}

// Fingerprint returns the fingerprint of the (last) key matching uid.
func (g *GPG) Fingerprint(uid string) string {
	g.t.Helper()
	out := g.Run(nil, "--with-colons", "--list-keys", "="+uid)
	fpr := ""
	inPrimary := false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		switch f[0] {
		case "pub":
			inPrimary = true
		case "sub":
			inPrimary = false
		case "fpr":
			if inPrimary && len(f) > 9 {
				fpr = f[9]
				inPrimary = false
			}
		}
	}
	if fpr == "" {
		g.t.Fatalf("no key for %q", uid)
	}
	return fpr
}

// Export returns the armored public key.
func (g *GPG) Export(fpr string) []byte {
	g.t.Helper()
	return g.Run(nil, "--armor", "--export", fpr)
}

// ExportSecret returns the armored secret key.
func (g *GPG) ExportSecret(fpr string) []byte {
	g.t.Helper()
	return g.Run(nil, "--armor", "--export-secret-keys", fpr)
}

// SetPrefs replaces the preferences on a key's self-signature, as
// `gpg --edit-key FPR setpref PREFS save` does (PREFS as gpg spells them:
// "AES128 SHA256 ZLIB Uncompressed").
func (g *GPG) SetPrefs(fpr, prefs string) {
	g.t.Helper()
	g.Run([]byte("setpref "+prefs+"\ny\nsave\n"), "--command-fd", "0", "--edit-key", fpr)
}

// SessionKey decrypts an OpenPGP message with this keyring and returns the
// session key as gpg --show-session-key prints it ("9:HEX…", where the
// number is the symmetric algorithm: 7 AES-128, 9 AES-256).
func (g *GPG) SessionKey(msg []byte) string {
	g.t.Helper()
	_, stderr, err := g.RunErr(msg, "--show-session-key", "--decrypt")
	if err != nil {
		g.t.Fatalf("gpg --show-session-key: %v\n%s", err, stderr)
	}
	for _, line := range strings.Split(string(stderr), "\n") {
		if _, key, ok := strings.Cut(line, "session key: '"); ok {
			return strings.TrimSuffix(strings.TrimSpace(key), "'")
		}
	}
	g.t.Fatalf("gpg printed no session key:\n%s", stderr)
	return ""
}

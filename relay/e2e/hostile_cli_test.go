package e2e_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/pgp"
)

// relayOut runs the relay binary and returns its exit status and output.
func relayOut(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(relayBin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("relay %s: %v", strings.Join(args, " "), err)
	return 0, "", ""
}

type cliCase struct {
	name  string
	args  func(dir string) ([]string, []byte) // the arguments (with --data dir as needed) and stdin
	code  int
	text  string // exact substring of stderr
	check func(t *testing.T, dir string)
	// listed: check already ran a command on the instance (so it works)
	listed bool
}

// genKey makes an OpenPGP key with go-crypto (no gpg needed).
func genKey(t *testing.T, c *packet.Config) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("Test", "", "test@newsroom.example", c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func armorKey(t *testing.T, e *openpgp.Entity, private bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	typ := openpgp.PublicKeyType
	if private {
		typ = openpgp.PrivateKeyType
	}
	w, err := armor.Encode(&buf, typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	if private {
		err = e.SerializePrivate(w, nil)
	} else {
		err = e.Serialize(w)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

// TestHostileCLI runs the command-line, settings-file and key rows. Each row
// must fail with its exact message and leave its instance as it was.
func TestHostileCLI(t *testing.T) {
	t.Parallel()
	in := newInstance(t, cheapConf)
	base := filepath.Dir(in.dir)
	file := func(name string, b []byte) string {
		p := filepath.Join(base, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noJournalist := func(name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			// Listing also shows that the instance still works.
			code, out, errOut := relayOut(t, nil, "journalist", "list", "--data", dir, "--json")
			if code != 0 {
				t.Fatalf("journalist list after the case: exit %d\n%s", code, errOut)
			}
			if strings.Contains(out, `"`+name+`"`) {
				t.Errorf("journalist %s was added:\n%s", name, out)
			}
		}
	}
	noDir := func(name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if _, err := os.Stat(filepath.Join(base, name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused init left %s behind (%v)", name, err)
			}
		}
	}
	args := func(a ...string) func(string) ([]string, []byte) {
		return func(dir string) ([]string, []byte) {
			out := make([]string, len(a))
			for i, s := range a {
				out[i] = strings.ReplaceAll(s, "DIR", dir)
			}
			return out, nil
		}
	}
	key := func(name string, b []byte) func(string) ([]string, []byte) {
		return func(dir string) ([]string, []byte) {
			return []string{"journalist", "add", name, "--key", "-", "--data", dir}, b
		}
	}
	// seeded init with a settings file.
	conf := func(name, text string) func(string) ([]string, []byte) {
		return func(string) ([]string, []byte) {
			return []string{"init", "--data", filepath.Join(base, name), "--config", file(name+".conf", []byte(text))}, nil
		}
	}

	// Keys: built once.
	now := time.Now()
	rsa2048 := genKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048})
	expired := genKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, KeyLifetimeSecs: 3600,
		Time: func() time.Time { return now.Add(-48 * time.Hour) }})
	p256 := genKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP256})
	good := genKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	goodPub := armorKey(t, good, false)
	twoKeys := append(append([]byte{}, pgp.Serialize(good)...), pgp.Serialize(p256)...)
	var msgArmor bytes.Buffer
	mw, _ := armor.Encode(&msgArmor, "PGP MESSAGE", nil)
	mw.Write([]byte("not a key"))
	mw.Close()
	damaged := bytes.Replace(goodPub, []byte("\n="), []byte("\n=AAAA"), 1)
	truncated := goodPub[:len(goodPub)/2]

	var savedConf []byte
	cases := []cliCase{
		// The command line.
		{name: "no command", args: args(), code: 2, text: "relay: no command given"},
		{name: "unknown command", args: args("frobnicate", "--data", "DIR"), code: 2, text: `relay: unknown command "frobnicate"`},
		{name: "unknown journalist subcommand", args: args("journalist", "promote", "jane"), code: 2, text: `relay: unknown journalist subcommand "promote"`},
		{name: "unknown flag", args: args("status", "--bogus", "--data", "DIR"), code: 2, text: "relay: status: flag provided but not defined: -bogus"},
		{name: "help for an unknown command", args: args("help", "frobnicate"), code: 2, text: `relay: help: unknown command "frobnicate"`},
		{name: "journalist add without --key", args: args("journalist", "add", "bob", "--data", "DIR"), code: 2,
			text: "relay: journalist add: --key FILE is required (use - for stdin)", check: noJournalist("bob"), listed: true},
		{name: "journalist add with an empty key file", args: func(dir string) ([]string, []byte) {
			return []string{"journalist", "add", "bob", "--key", file("empty.asc", nil), "--data", dir}, nil
		}, code: 1, text: "empty.asc is empty", check: noJournalist("bob"), listed: true},
		{name: "journalist add with a missing key file", args: args("journalist", "add", "bob", "--key", "/nonexistent/key.asc", "--data", "DIR"),
			code: 1, text: "relay: cannot read key file:", check: noJournalist("bob"), listed: true},
		{name: "invalid journalist name", args: func(dir string) ([]string, []byte) {
			return []string{"journalist", "add", "Bad Name!", "--key", "-", "--data", dir}, goodPub
		}, code: 2, text: `relay: bad journalist name "Bad Name!": use 1-32 characters a-z 0-9 . _ -, starting with a letter`},
		{name: "journalist name with a newline", args: func(dir string) ([]string, []byte) {
			return []string{"journalist", "add", "bob\nroot", "--key", "-", "--data", dir}, goodPub
		}, code: 2, text: "relay: bad journalist name", check: noJournalist("bob"), listed: true},
		{name: "duplicate journalist", args: key("jane", goodPub), code: 1, text: `relay: journalist "jane" already exists`},
		{name: "journalist remove unknown", args: args("journalist", "remove", "nobody", "--data", "DIR"), code: 1, text: `relay: no journalist named "nobody"`},
		{name: "--data pointing to a file", args: func(string) ([]string, []byte) {
			return []string{"status", "--data", file("not-a-dir", []byte("x"))}, nil
		}, code: 1, text: "not-a-dir is not a directory"},
		{name: "--data pointing nowhere", args: args("status", "--data", "/nonexistent/postern"), code: 1, text: "relay: data directory /nonexistent/postern does not exist"},
		{name: "second init", args: args("init", "--data", "DIR"), code: 1, text: "already holds a Postern instance; init changes nothing"},
		{name: "source delete unknown", args: args("source", "delete", "no such designation", "--data", "DIR"), code: 1, text: `relay: no source designated "no such designation"`},
		{name: "source prune with negative days", args: args("source", "prune", "--inactive", "-3", "--data", "DIR"), code: 2,
			text: `relay: source prune: --inactive wants a number of days from 1 to 100000, not "-3"`},
		{name: "source prune without days", args: args("source", "prune", "--data", "DIR"), code: 2,
			text: "relay: source prune: --inactive DAYS is required"},
		{name: "extra argument", args: args("status", "extra", "--data", "DIR"), code: 2, text: `relay: status: unexpected argument "extra"`},

		// The settings file (seeding init) and a changed one after init.
		{name: "config unknown key", args: conf("c1", "frobnicate = 1\n"), code: 1, text: `line 1: unknown setting "frobnicate"`, check: noDir("c1")},
		{name: "config duplicate key", args: conf("c2", "log_level = info\nlog_level = warn\n"), code: 1, text: "line 2: log_level is already set on line 1", check: noDir("c2")},
		{name: "config non-loopback listen", args: conf("c3", "intake_listen = 0.0.0.0:8080\n"), code: 1,
			text: `line 1: intake_listen: "0.0.0.0:8080": only loopback addresses are allowed (Tor publishes the services)`, check: noDir("c3")},
		{name: "config bad number", args: conf("c4", "max_message_chars = lots\n"), code: 1, text: `line 1: max_message_chars: "lots" is not a whole number`, check: noDir("c4")},
		{name: "config number out of range", args: conf("c5", "\n# comment\nmax_submission_mib = 0\n"), code: 1, text: "line 3: max_submission_mib: 0 is out of range 1..65536", check: noDir("c5")},
		{name: "config line without =", args: conf("c6", "log_level debug\n"), code: 1, text: `line 1: expected "key = value", got "log_level debug"`, check: noDir("c6")},
		{name: "config invalid UTF-8", args: conf("c7", "organisation = \xff\xfe\n"), code: 1, text: "line 1: not valid UTF-8", check: noDir("c7")},
		{name: "config line of 5000 bytes", args: conf("c8", "organisation = "+strings.Repeat("x", 5000)+"\n"), code: 1, text: "line 1: line longer than 4096 bytes", check: noDir("c8")},
		{name: "config bad log level", args: conf("c9", "log_level = verbose\n"), code: 1, text: `line 1: log_level: "verbose" is not one of debug, info, warn, error`, check: noDir("c9")},
		{name: "config source_kdf changed after init", args: func(dir string) ([]string, []byte) {
			path := filepath.Join(dir, "postern.conf")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			changed := regexp.MustCompile(`(?m)^source_kdf_time = \d+$`).ReplaceAll(b, []byte("source_kdf_time = 2"))
			if bytes.Equal(b, changed) {
				t.Fatalf("no source_kdf_time line in postern.conf")
			}
			if err := os.WriteFile(path, changed, 0o600); err != nil {
				t.Fatal(err)
			}
			savedConf = b
			return []string{"status", "--data", dir}, nil
		}, code: 1, text: "source_kdf_* settings", check: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "postern.conf"), savedConf, 0o600); err != nil {
				t.Fatal(err)
			}
		}},

		// OpenPGP keys.
		{name: "key garbage", args: key("k1", []byte("this is not a key at all\x00\xff")), code: 1, text: "unusable OpenPGP key: not an OpenPGP public key", check: noJournalist("k1"), listed: true},
		{name: "key whitespace only", args: key("k2", []byte(" \n\n ")), code: 1, text: "relay: unusable OpenPGP key: empty input", check: noJournalist("k2"), listed: true},
		{name: "key empty stdin", args: key("k3", nil), code: 1, text: "relay: the key in standard input is empty", check: noJournalist("k3"), listed: true},
		{name: "secret key", args: key("k4", armorKey(t, good, true)), code: 1,
			text: "unusable OpenPGP key: this is a secret key; export the public key with gpg --export --armor", check: noJournalist("k4"), listed: true},
		{name: "RSA-2048 key", args: key("k5", armorKey(t, rsa2048, false)), code: 1,
			text: "unusable OpenPGP key: RSA key of 2048 bits; at least 3072 are required (or use Curve25519)", check: noJournalist("k5"), listed: true},
		{name: "expired key", args: key("k6", armorKey(t, expired, false)), code: 1,
			text: "unusable OpenPGP key: the key expired on " + now.Add(-47*time.Hour).UTC().Format(time.DateOnly), check: noJournalist("k6"), listed: true},
		{name: "P-256 key", args: key("k7", armorKey(t, p256, false)), code: 1,
			text: "unusable OpenPGP key: ECDSA key on curve P256; only RSA >= 3072 or Curve25519 are accepted", check: noJournalist("k7"), listed: true},
		{name: "two keys", args: key("k8", twoKeys), code: 1, text: "unusable OpenPGP key: more than one key", check: noJournalist("k8"), listed: true},
		{name: "armored message, not a key", args: key("k9", msgArmor.Bytes()), code: 1,
			text: `unusable OpenPGP key: armored "PGP MESSAGE", not a PGP PUBLIC KEY BLOCK`, check: noJournalist("k9"), listed: true},
		{name: "armor with a bad checksum", args: key("k10", damaged), code: 1, text: "unusable OpenPGP key: damaged armor", check: noJournalist("k10"), listed: true},
		{name: "truncated armor", args: key("k11", truncated), code: 1, text: "unusable OpenPGP key: damaged armor", check: noJournalist("k11"), listed: true},
		{name: "key over 1 MiB", args: key("k12", bytes.Repeat([]byte("A"), 1<<20+1)), code: 1,
			text: "relay: the key in standard input is larger than 1 MiB; export only the public key", check: noJournalist("k12"), listed: true},
	}
	t.Logf("%d CLI, settings and key cases", len(cases))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, stdin := c.args(in.dir)
			code, out, errOut := relayOut(t, stdin, a...)
			if code != c.code || !strings.Contains(errOut, c.text) {
				t.Errorf("relay %q: exit %d, stderr:\n%s\nwant exit %d with %q (stdout %q)", a, code, errOut, c.code, c.text, clipLine(out))
			}
			t.Logf("exit %d: %s", code, strings.TrimSpace(errOut))
			if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
				t.Errorf("the relay crashed:\n%s", errOut)
			}
			if c.check != nil {
				c.check(t, in.dir)
			}
			// The instance still works after every row.
			if c.listed {
				return
			}
			if code, _, e := relayOut(t, nil, "status", "--data", in.dir); code != 0 {
				t.Fatalf("relay status after the case: exit %d\n%s", code, e)
			}
		})
	}
	checkStore(t, in.dir)
}

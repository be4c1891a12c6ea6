package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postern/relay/admin"
	"postern/relay/config"
)

func TestInit(t *testing.T) {
	dir := newInstance(t)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v %v", fi, err)
	}
	for _, name := range []string{config.FileName, "postern.db"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
	}
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SourceKDF.Time != 1 || cfg.MailDomain != "postern.local" {
		t.Fatalf("seeded config not used: %+v", cfg)
	}

	before := snapshot(t, dir)
	r := relay(t, nil, "init", "--data", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "already holds a Postern instance") {
		t.Fatalf("second init: %+v", r)
	}
	if after := snapshot(t, dir); after != before {
		t.Fatalf("second init changed the instance:\n%s\n---\n%s", before, after)
	}

	// A non-empty directory that is not an instance is left alone.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	before = snapshot(t, other)
	r = relay(t, nil, "init", "--data", other)
	if r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("init in non-empty dir: %+v", r)
	}
	if snapshot(t, other) != before {
		t.Fatal("init changed a non-empty directory")
	}

	// A bad seed settings file is refused before anything is created.
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("retention_days = 1\nfoo = bar\n"), 0o600)
	target := filepath.Join(t.TempDir(), "new")
	r = relay(t, nil, "init", "--data", target, "--config", bad)
	if r.code != 1 || !strings.Contains(r.stderr, `line 2: unknown setting "foo"`) {
		t.Fatalf("bad seed: %+v", r)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatal("init with a bad seed created the directory")
	}

	// --json and $POSTERN_DATA.
	envDir := filepath.Join(t.TempDir(), "env")
	t.Setenv("POSTERN_DATA", envDir)
	out := mustRelayEnv(t, envDir, "init", "--json")
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["data_dir"] != envDir {
		t.Fatalf("init --json: %q %v", out, err)
	}
}

// mustRelayEnv runs relay with POSTERN_DATA set.
func mustRelayEnv(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	cmd := relayCmd(args...)
	cmd.Env = append(cleanEnv(), "POSTERN_DATA="+dataDir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("relay %v: %v", args, err)
	}
	return string(out)
}

func TestMisuse(t *testing.T) {
	dir := newInstance(t)
	keyPath, _ := writeKey(t, t.TempDir())
	mustRelay(t, nil, "journalist", "add", "jane", "--key", keyPath, "--data", dir)
	empty := filepath.Join(t.TempDir(), "empty.asc")
	os.WriteFile(empty, nil, 0o600)
	garbage := filepath.Join(t.TempDir(), "garbage.asc")
	os.WriteFile(garbage, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnonsense\n"), 0o600)
	notInstance := t.TempDir()

	cases := []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string
	}{
		{"no command", nil, "", 2, "no command given"},
		{"unknown command", []string{"frobnicate"}, "", 2, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"journalist", "frob", "--data", dir}, "", 2, `unknown journalist subcommand "frob"`},
		{"bare journalist", []string{"journalist"}, "", 2, "needs a subcommand"},
		{"unknown flag", []string{"status", "--data", dir, "--bogus"}, "", 2, "flag provided but not defined: -bogus"},
		{"unknown flag after arg", []string{"journalist", "remove", "jane", "--force", "--data", dir}, "", 2, "not defined: -force"},
		{"missing NAME", []string{"journalist", "add", "--key", keyPath, "--data", dir}, "", 2, "missing NAME"},
		{"extra argument", []string{"journalist", "passwd", "jane", "bob", "--data", dir}, "", 2, `unexpected argument "bob"`},
		{"missing --key", []string{"journalist", "add", "bob", "--data", dir}, "", 2, "--key FILE is required"},
		{"bad name", []string{"journalist", "add", "Bob!", "--key", keyPath, "--data", dir}, "", 2, `bad journalist name "Bob!"`},
		{"empty --data", []string{"status", "--data", ""}, "", 2, "--data must not be empty"},
		{"missing data dir", []string{"status", "--data", filepath.Join(dir, "nope")}, "", 1, "does not exist"},
		{"wrong data dir", []string{"journalist", "list", "--data", notInstance}, "", 1, "is not a Postern instance"},
		{"duplicate journalist", []string{"journalist", "add", "jane", "--key", keyPath, "--data", dir}, "", 1, `journalist "jane" already exists`},
		{"empty key file", []string{"journalist", "add", "bob", "--key", empty, "--data", dir}, "", 1, "is empty"},
		{"empty stdin", []string{"journalist", "add", "bob", "--key", "-", "--data", dir}, "", 1, "standard input is empty"},
		{"missing key file", []string{"journalist", "add", "bob", "--key", empty + ".nope", "--data", dir}, "", 1, "cannot read key file"},
		{"garbage key", []string{"journalist", "add", "bob", "--key", garbage, "--data", dir}, "", 1, "unusable OpenPGP key"},
		{"garbage key on stdin", []string{"journalist", "set-key", "jane", "--key", "-", "--data", dir}, "hello", 1, "unusable OpenPGP key"},
		{"remove unknown", []string{"journalist", "remove", "bob", "--data", dir}, "", 1, `no journalist named "bob"`},
		{"passwd unknown", []string{"journalist", "passwd", "bob", "--data", dir}, "", 1, `no journalist named "bob"`},
		{"help unknown", []string{"help", "frob"}, "", 2, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Usage errors must not even open the database; operational
			// ones may open it but must not change what it holds.
			beforeState := state(t, dir) // opens the store: before the snapshot
			before := snapshot(t, dir)
			r := relay(t, []byte(tc.stdin), tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tc.code, r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if !strings.HasPrefix(lines[0], "relay: ") || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("first stderr line %q, want it to contain %q", lines[0], tc.want)
			}
			wantLines := 1
			if tc.code == 2 {
				wantLines = 2
				if !strings.HasPrefix(lines[len(lines)-1], "Run 'relay help") {
					t.Fatalf("no usage hint: %q", r.stderr)
				}
			}
			if len(lines) != wantLines {
				t.Fatalf("stderr has %d lines, want %d: %q", len(lines), wantLines, r.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("stdout not empty on failure: %q", r.stdout)
			}
			if after := snapshot(t, dir); after != before {
				t.Fatalf("files changed:\n%s\n---\n%s", before, after)
			}
			if got := state(t, dir); got != beforeState {
				t.Fatalf("state changed:\n%s\n---\n%s", beforeState, got)
			}
		})
	}
	if _, err := os.ReadDir(notInstance); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(notInstance); len(entries) != 0 {
		t.Fatalf("a command wrote into a non-instance directory: %v", entries)
	}
}

// state is the instance as the admin sees it: journalists with their
// password hashes, and the status counts.
func state(t *testing.T, dir string) string {
	t.Helper()
	a, err := admin.Open(dir, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	js, err := a.Store().Journalists()
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	st.GoVersion = ""
	b, _ := json.Marshal(struct {
		J any
		S any
	}{js, st})
	return string(b)
}

func TestHelpAndVersion(t *testing.T) {
	out := mustRelay(t, nil, "help")
	for _, c := range []string{"init", "journalist add", "journalist set-key", "status", "demo", "version"} {
		if !strings.Contains(out, "relay "+c) {
			t.Errorf("help lacks %q", c)
		}
	}
	if out := mustRelay(t, nil, "journalist", "add", "-h"); !strings.Contains(out, "relay journalist add NAME --key") {
		t.Errorf("journalist add -h: %q", out)
	}
	if out := mustRelay(t, nil, "version"); !strings.HasPrefix(out, "relay "+admin.Version) {
		t.Errorf("version: %q", out)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "version", "--json")), &v); err != nil || v["version"] != admin.Version {
		t.Errorf("version --json: %v %v", v, err)
	}
}

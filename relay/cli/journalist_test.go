package cli_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"postern/mailbox/kdf"
	"postern/relay/admin"
)

func relayCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(relayBin, args...)
	cmd.Env = cleanEnv()
	return cmd
}

func storedHash(t *testing.T, dir, name string) string {
	t.Helper()
	a, err := admin.Open(dir, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	j, err := a.Store().Journalist(name)
	if err != nil {
		t.Fatal(err)
	}
	return j.PasswordHash
}

func verify(t *testing.T, pass, hash string) bool {
	t.Helper()
	ok, err := kdf.NewPool(kdf.PoolOptions{Workers: 1}).VerifyPassword(t.Context(), pass, hash)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestJournalistCommands(t *testing.T) {
	dir := newInstance(t)
	keyPath, key := writeKey(t, t.TempDir())

	// Flags after the positional argument, human output: no passphrase or
	// onion key (onboard replaces both), but the step that makes them.
	out := mustRelay(t, nil, "journalist", "add", "jane", "--key", keyPath, "--data", dir)
	if !strings.Contains(out, "Journalist jane added.") || !strings.Contains(out, key.Fingerprint) ||
		!strings.Contains(out, "relay journalist onboard jane --out DIR") {
		t.Fatalf("add output: %q", out)
	}
	if strings.Contains(out, "passphrase:") || strings.Contains(out, "onion key:") {
		t.Fatalf("add printed secrets that onboard replaces: %q", out)
	}
	var pw0 admin.NewPassphrase
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "passwd", "jane", "--data", dir, "--json")), &pw0); err != nil {
		t.Fatal(err)
	}
	pass := pw0.Passphrase
	if len(strings.Fields(pass)) != admin.PassphraseWords {
		t.Fatalf("passphrase %q", pass)
	}
	hash := storedHash(t, dir, "jane")
	if !verify(t, pass, hash) {
		t.Fatal("printed passphrase does not match the stored hash")
	}

	// The key on stdin, flags first, JSON out.
	_, key2 := writeKey(t, t.TempDir())
	var added admin.JournalistAdded
	out = string(mustRelay(t, key2.Public, "journalist", "add", "--data", dir, "--json", "--key", "-", "bob"))
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		t.Fatalf("add --json: %v\n%s", err, out)
	}
	if added.Journalist.Name != "bob" || added.Journalist.Fingerprint != key2.Fingerprint || added.OnionAuthPrivate == "" {
		t.Fatalf("add --json: %+v", added)
	}

	var list []admin.JournalistInfo
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "list", "--json", "--data", dir)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "bob" || list[1].Name != "jane" || list[1].Fingerprint != key.Fingerprint {
		t.Fatalf("list: %+v", list)
	}
	if out := mustRelay(t, nil, "journalist", "list", "--data", dir); !strings.Contains(out, "jane") || !strings.Contains(out, "NAME") {
		t.Fatalf("list: %q", out)
	}

	var pw admin.NewPassphrase
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "passwd", "jane", "--data", dir, "--json")), &pw); err != nil {
		t.Fatal(err)
	}
	hash2 := storedHash(t, dir, "jane")
	if hash2 == hash || !verify(t, pw.Passphrase, hash2) || verify(t, pass, hash2) {
		t.Fatal("passwd did not replace the hash with one of the new passphrase")
	}

	key3Path, key3 := writeKey(t, t.TempDir())
	var info admin.JournalistInfo
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "set-key", "jane", "--key", key3Path, "--data", dir, "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Fingerprint != key3.Fingerprint {
		t.Fatalf("set-key: %+v", info)
	}

	mustRelay(t, nil, "journalist", "remove", "bob", "--data", dir)
	var st admin.Status
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "status", "--json", "--data", dir)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Journalists != 1 || st.Running || st.Version != admin.Version || st.Sources != 0 {
		t.Fatalf("status: %+v", st)
	}
	if out := mustRelay(t, nil, "status", "--data", dir); !strings.Contains(out, "journalists:     1") {
		t.Fatalf("status: %q", out)
	}
}

// While another process holds the database and no socket answers, a
// command says so clearly instead of hanging.
func TestLockedWithoutSocket(t *testing.T) {
	dir := newInstance(t)
	a, err := admin.Open(dir, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r := relay(t, nil, "status", "--data", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "in use by another relay process, but no relay answers") {
		t.Fatalf("%+v", r)
	}
}

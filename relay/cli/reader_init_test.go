package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postern/relay/admin"
)

const testOnion = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"

// TestReaderInitFromOnboarding: the home made from `journalist onboard`'s
// folder names the onion, ports and user, holds a copy of the client key,
// is readable by its owner only, and holds no passphrase.
func TestReaderInitFromOnboarding(t *testing.T) {
	dir := newInstance(t)
	base := t.TempDir()
	keyFile, _ := writeKey(t, base)
	mustRelay(t, nil, "journalist", "add", "jane", "--key", keyFile, "--data", dir)
	// As relay serve leaves it once the journalist onion is published.
	os.MkdirAll(filepath.Join(dir, "onion"), 0o700)
	os.WriteFile(filepath.Join(dir, admin.JournalistOnionFile), []byte(testOnion+"\n"), 0o600)
	ob := filepath.Join(base, "onboard")
	var res struct {
		Passphrase string `json:"passphrase"`
		Onion      string `json:"journalist_onion"`
	}
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "onboard", "jane", "--out", ob, "--data", dir, "--json")), &res); err != nil || res.Onion != testOnion {
		t.Fatalf("onboard: %v %+v", err, res)
	}
	home := filepath.Join(base, "home")
	mustRelay(t, nil, "reader", "init", "--dir", home, "--from", ob)
	var h struct {
		Version    int    `json:"version"`
		User       string `json:"user"`
		Onion      string `json:"journalist_onion"`
		IMAP       int    `json:"imap_port"`
		SMTP       int    `json:"smtp_port"`
		ClientAuth string `json:"client_auth_file"`
		SOCKS      string `json:"socks"`
	}
	raw, _ := os.ReadFile(filepath.Join(home, "reader.json"))
	if err := json.Unmarshal(raw, &h); err != nil || h.Version != 1 || h.User != "jane" || h.Onion != res.Onion ||
		h.IMAP != 143 || h.SMTP != 587 || h.ClientAuth != "onion-auth/jane.auth_private" || h.SOCKS != "socks5://127.0.0.1:9050" {
		t.Fatalf("reader.json: %v\n%s", err, raw)
	}
	orig, _ := os.ReadFile(filepath.Join(ob, "jane.auth_private"))
	if cp, err := os.ReadFile(filepath.Join(home, h.ClientAuth)); err != nil || string(cp) != string(orig) {
		t.Errorf("the client key copy differs: %v", err)
	}
	filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
		fi, _ := d.Info()
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		if b, _ := os.ReadFile(p); !d.IsDir() && strings.Contains(string(b), res.Passphrase) {
			t.Errorf("%s holds the passphrase", p)
		}
		return nil
	})
	// A folder with another onion's key is refused.
	os.WriteFile(filepath.Join(ob, "jane.auth_private"), []byte(strings.Repeat("a", 56)+":descriptor:x25519:"+strings.Repeat("A", 52)+"\n"), 0o600)
	if r := relay(t, nil, "reader", "init", "--dir", filepath.Join(base, "home2"), "--from", ob); r.code != 1 || !strings.Contains(r.stderr, "is not a client key for") {
		t.Errorf("init from a folder with a wrong key: exit %d\n%s", r.code, r.stderr)
	}
}

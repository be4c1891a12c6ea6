package cli_test

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"postern/relay/admin"
)

// onboard refuses (changing nothing) until the journalist onion has an
// address, then writes a private folder with the onion key, instructions and
// an autoconfig file, prints the new passphrase only, and cuts the old
// passphrase and onion key.
func TestJournalistOnboard(t *testing.T) {
	dir := newInstance(t)
	keyPath, _ := writeKey(t, t.TempDir())
	var added admin.JournalistAdded
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "journalist", "add", "jane", "--key", keyPath, "--data", dir, "--json")), &added); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "jane-setup")

	before := snapshot(t, dir)
	r := relay(t, nil, "journalist", "onboard", "jane", "--out", out, "--data", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "no address yet") {
		t.Fatalf("onboard before serve: %+v", r)
	}
	if snapshot(t, dir) != before {
		t.Fatal("a refused onboard changed the instance")
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused onboard wrote the folder")
	}

	// As relay serve leaves it once the journalist onion is published.
	const onion = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"
	if err := os.MkdirAll(filepath.Join(dir, "onion"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, admin.JournalistOnionFile), []byte(onion+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oldHash := storedHash(t, dir, "jane")
	text := mustRelay(t, nil, "journalist", "onboard", "jane", "--out", out, "--data", dir)
	var pass string
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "passphrase:"); ok {
			pass = strings.TrimSpace(v)
		}
	}
	newHash := storedHash(t, dir, "jane")
	if newHash == oldHash || !verify(t, pass, newHash) || verify(t, added.Passphrase, newHash) {
		t.Fatal("onboard must replace the passphrase with the one it printed")
	}

	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("folder: %v %v", fi, err)
	}
	entries, _ := os.ReadDir(out)
	var all strings.Builder
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", e.Name(), info.Mode().Perm())
		}
		b, _ := os.ReadFile(filepath.Join(out, e.Name()))
		all.Write(b)
	}
	if strings.Contains(all.String(), pass) {
		t.Fatal("the passphrase was written into the folder")
	}
	auth, err := os.ReadFile(filepath.Join(out, "jane.auth_private"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^([a-z2-7]{56}):descriptor:x25519:([A-Z2-7]{52})\n$`).FindSubmatch(auth)
	if m == nil || string(m[1])+".onion" != onion {
		t.Fatalf("auth_private = %q", auth)
	}
	if string(m[2]) == added.OnionAuthPrivate {
		t.Fatal("onboard kept the old onion key")
	}
	var cfg struct {
		Provider struct {
			Incoming struct {
				Hostname string `xml:"hostname"`
				Port     int    `xml:"port"`
				Username string `xml:"username"`
			} `xml:"incomingServer"`
		} `xml:"emailProvider"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "config-v1.1.xml"))
	if err := xml.Unmarshal(b, &cfg); err != nil || cfg.Provider.Incoming.Hostname != onion ||
		cfg.Provider.Incoming.Port != 143 || cfg.Provider.Incoming.Username != "jane" {
		t.Fatalf("autoconfig: %+v %v", cfg, err)
	}
	readme, _ := os.ReadFile(filepath.Join(out, "README.txt"))
	for _, want := range []string{onion, "ClientOnionAuthDir", "SOCKS", "Proxy DNS", "587"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.txt lacks %q", want)
		}
	}
	// A second onboard into the same folder is refused.
	if r := relay(t, nil, "journalist", "onboard", "jane", "--out", out, "--data", dir); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("onboard into an existing folder: %+v", r)
	}
}

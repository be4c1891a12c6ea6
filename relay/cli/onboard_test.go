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
	checkOnboardingFolder(t, out, "jane", onion, string(m[2]))
	// A second onboard into the same folder is refused.
	if r := relay(t, nil, "journalist", "onboard", "jane", "--out", out, "--data", dir); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("onboard into an existing folder: %+v", r)
	}
}

// checkOnboardingFolder checks what a journalist follows alone: every file
// the guide names is in the folder (and every file is named), the onion
// client key is only in NAME.auth_private, the address to type is given, the
// system-tor steps make the onion_auth directory as tor wants it, nothing
// sends the journalist to port 80 of the journalist onion, and the
// autoconfig is valid XML for Thunderbird's isp/DOMAIN.xml with the
// onion, ports and user name.
func checkOnboardingFolder(t *testing.T, out, name, onion, key string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(out, "README.txt"))
	if err != nil {
		t.Fatal(err)
	}
	guide := string(readme)
	entries, _ := os.ReadDir(out)
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name()] = true
	}
	named := map[string]bool{}
	for _, f := range regexp.MustCompile(`[A-Za-z0-9_.-]+\.(?:auth_private|xml|txt)\b`).FindAllString(guide, -1) {
		named[f] = true
		if !have[f] {
			t.Errorf("the guide names %s, which is not in the folder", f)
		}
	}
	for f := range have {
		if !named[f] {
			t.Errorf("the folder holds %s, which the guide never names", f)
		}
	}
	for f := range have {
		b, _ := os.ReadFile(filepath.Join(out, f))
		if strings.Contains(string(b), key) != (f == name+".auth_private") {
			t.Errorf("%s: holds the onion client key = %v", f, strings.Contains(string(b), key))
		}
	}
	for _, want := range []string{
		onion, "newsroom@postern.local", "SOCKS", "Proxy DNS", "587", "143",
		"sudo install -d -o debian-tor -g debian-tor -m 0700 /var/lib/tor/onion_auth",
		"sudo install -o debian-tor -g debian-tor -m 0600 " + name + ".auth_private /var/lib/tor/onion_auth/",
		"ClientOnionAuthDir /var/lib/tor/onion_auth",
		"/usr/lib/thunderbird/isp/", "relay reader init --from",
	} {
		if !strings.Contains(guide, want) {
			t.Errorf("README.txt lacks %q", want)
		}
	}
	if strings.Contains(guide, "http://"+onion) || strings.Contains(guide, onion+":80") {
		t.Error("the guide sends the journalist to port 80 of the journalist onion, where nothing listens")
	}
	var cfg struct {
		XMLName  xml.Name `xml:"clientConfig"`
		Version  string   `xml:"version,attr"`
		Provider struct {
			Domain   string         `xml:"domain"`
			Incoming autoconfServer `xml:"incomingServer"`
			Outgoing autoconfServer `xml:"outgoingServer"`
		} `xml:"emailProvider"`
	}
	b, err := os.ReadFile(filepath.Join(out, "postern.local.xml"))
	if err != nil {
		t.Fatalf("autoconfig for Thunderbird's isp/ directory: %v", err)
	}
	if err := xml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("autoconfig is not valid XML: %v", err)
	}
	ports := map[string]int{}
	for _, sv := range []autoconfServer{cfg.Provider.Incoming, cfg.Provider.Outgoing} {
		if sv.Hostname != onion || sv.Username != name || sv.Socket != "plain" {
			t.Errorf("autoconfig server: %+v", sv)
		}
		ports[sv.Type] = sv.Port
	}
	if cfg.Version != "1.1" || cfg.Provider.Domain != "postern.local" || ports["imap"] != 143 || ports["smtp"] != 587 {
		t.Fatalf("autoconfig: %+v", cfg)
	}
}

type autoconfServer struct {
	Type     string `xml:"type,attr"`
	Hostname string `xml:"hostname"`
	Port     int    `xml:"port"`
	Socket   string `xml:"socketType"`
	Username string `xml:"username"`
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOnlyTestNetworkIncludesPassAsTorExtra: what tools/tornet asks for (an
// include of its join file, which includes a torrc setting TestingTorNetwork)
// passes; any other torrc line, and any include of a file a backup could have
// written (inside the data directory) or someone else could change, does not.
func TestOnlyTestNetworkIncludesPassAsTorExtra(t *testing.T) {
	net := t.TempDir()
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(path, text string, mode os.FileMode) string {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
		return path
	}
	common := write(filepath.Join(net, "common.torrc"), "TestingTorNetwork 1\nDirAuthority auth0 orport=1 no-v2 v3ident=AA 127.0.0.1:2 BB\n", 0o600)
	join := write(filepath.Join(net, "join.torrc"), "%include "+common+"\nEntryNodes AAAA\n", 0o600)
	plain := write(filepath.Join(net, "plain.torrc"), "ControlPort 0.0.0.0:9051\n", 0o600)
	loose := write(filepath.Join(net, "loose.torrc"), "TestingTorNetwork 1\n", 0o666)
	planted := write(filepath.Join(data, "blob.torrc"), "TestingTorNetwork 1\nControlPort 0.0.0.0:9051\n", 0o600)
	viaData := write(filepath.Join(net, "via.torrc"), "TestingTorNetwork 1\n%include "+planted+"\n", 0o600)
	link := filepath.Join(net, "link.torrc")
	if err := os.Symlink(planted, link); err != nil {
		t.Fatal(err)
	}

	for _, ok := range []string{"%include " + join, "%include " + common} {
		if err := TestNetworkInclude(ok, data); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	bad := map[string]string{
		"ControlPort 0.0.0.0:9051":                  "not a %include",
		"HiddenServiceDir /tmp/x":                   "not a %include",
		"%include " + plain:                         "TestingTorNetwork",
		"%include " + loose:                         "writable only by its owner",
		"%include " + planted:                       "data directory",
		"%include " + link:                          "data directory",
		"%include " + viaData:                       "data directory",
		"%include " + net:                           "regular file",
		"%include " + net + "/*.torrc":              "plain absolute",
		"%include relative.torrc":                   "plain absolute",
		"%include " + net + "/../x/join.torrc":      "plain absolute",
		"%include " + filepath.Join(net, "missing"): "no such file",
	}
	for line, why := range bad {
		err := TestNetworkInclude(line, data)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want an error about %q", line, err, why)
		}
	}
	c := Default()
	c.TorExtra = []string{"%include " + join, "ControlPort 0.0.0.0:9051", "%include " + planted}
	if got := c.TorExtraBeyondTestNetwork(data); len(got) != 2 || got[0] != c.TorExtra[1] || got[1] != c.TorExtra[2] {
		t.Fatalf("beyond the test network: %q", got)
	}
}

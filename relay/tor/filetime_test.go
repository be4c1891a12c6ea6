package tor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postern/tools/privscan"
)

// TestOnionKeyTimesAreDays: a service key the relay saves, and its directory,
// carry the day, not the second the relay first started; loading it again at
// the next start does not date the start through its access time; tor's own
// files get the day once tor has exited (Close runs the same DayTree).
func TestOnionKeyTimesAreDays(t *testing.T) {
	dir := t.TempDir()
	tr := &Tor{dir: dir}
	path, key, err := tr.loadKey("intake")
	if err != nil || key != "" {
		t.Fatalf("loadKey of a new service: %q %v", key, err)
	}
	blob := "ED25519-V3:" + strings.Repeat("A", 86) + "=="
	if err := writeKey(path, blob); err != nil {
		t.Fatal(err)
	}
	if _, got, err := tr.loadKey("intake"); err != nil || got != blob {
		t.Fatalf("loadKey: %q %v", got, err)
	}
	hits, err := privscan.FileTimes(filepath.Join(dir, "onion"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		t.Error(h)
	}
	// What tor wrote while it ran.
	torDir := filepath.Join(dir, "tor", "keys")
	if err := os.MkdirAll(torDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tor", "state"), []byte("LastWritten x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dayTreeAfterExit(dir); err != nil {
		t.Fatal(err)
	}
	hits, err = privscan.FileTimes(filepath.Join(dir, "tor"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		t.Error(h)
	}
}

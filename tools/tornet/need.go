package tornet

import (
	"os"
	"os/exec"
	"testing"
)

// Need skips a test that needs the private network when tor is missing on a
// developer's machine (failing instead when CI=true, where it must be
// installed), and in -short runs, since the network takes ~30 s to start.
func Need(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"tor", "tor-gencert"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI: %v", tool, err)
			}
			t.Skipf("%s not installed; skipping the private Tor network test", tool)
		}
	}
	if testing.Short() {
		t.Skip("the private Tor network takes ~30 s to start")
	}
}

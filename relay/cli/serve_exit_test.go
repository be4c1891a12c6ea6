package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// relay serve exits 78 (EX_CONFIG) on what only the admin can fix, so that
// postern.service (RestartPreventExitStatus=2 78) does not restart it in a
// loop; a failure a restart may cure keeps exit status 1.
func TestServeConfigErrorExitStatus(t *testing.T) {
	dir := newInstance(t)
	badConf := t.TempDir()
	if err := os.WriteFile(filepath.Join(badConf, "postern.conf"), []byte("no_such_setting = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no instance", []string{"serve", "--data", filepath.Join(t.TempDir(), "none")}, 78, "does not exist"},
		{"bad postern.conf", []string{"serve", "--data", badConf}, 78, "no_such_setting"},
		{"listen beyond loopback", []string{"serve", "--data", dir, "--intake", "0.0.0.0:0", "--without-tor-for-tests-only"}, 78, "loopback"},
		{"no tor program", []string{"serve", "--data", dir, "--tor", filepath.Join(t.TempDir(), "no-tor")}, 78, "tor program was not found"},
		{"bad flag", []string{"serve", "--data", dir, "--no-such-flag"}, 2, "no-such-flag"},
	} {
		r := relay(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q: %s", tc.name, r.code, tc.code, tc.want, r.stderr)
		}
	}
}

package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"postern/relay/demokey"
)

// relayBin is the real binary, built once by TestMain (with -race when the
// tests run with it), so exit codes and signals are the real ones.
var relayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relay-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	relayBin = filepath.Join(dir, "relay")
	args := []string{"build", "-o", relayBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "postern/relay/cmd/relay")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building relay:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// relay runs the binary with stdin and args, without $POSTERN_DATA.
func relay(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(relayBin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("relay %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{out.String(), errb.String(), code}
}

func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "POSTERN_DATA=") {
			env = append(env, e)
		}
	}
	return env
}

// mustRelay runs a command that must succeed.
func mustRelay(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	r := relay(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("relay %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// smallConf keeps argon2 cheap: these tests are about the CLI; they
// deliver at once (no delivery window).
const smallConf = `source_kdf_time = 1
source_kdf_memory_kib = 8192
password_kdf_time = 1
password_kdf_memory_kib = 8192
kdf_workers = 1
delivery_window_minutes = 0
`

// newInstance runs `relay init` with small KDF settings and returns DIR.
func newInstance(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	conf := filepath.Join(base, "small.conf")
	if err := os.WriteFile(conf, []byte(smallConf), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "inst")
	mustRelay(t, nil, "init", "--data", dir, "--config", conf)
	return dir
}

// writeKey writes a fresh Curve25519 public key and returns path, key.
func writeKey(t *testing.T, dir string) (string, demokey.KeyPair) {
	t.Helper()
	k, err := demokey.New("Jane Doe", "jane@example.org")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "key-*.asc")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(k.Public)
	f.Close()
	return f.Name(), k
}

// snapshot hashes every file under dir (names, modes, contents), the
// database included: opening an up-to-date instance writes nothing.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			lines = append(lines, path+" "+err.Error())
			return nil
		}
		fi, _ := d.Info()
		line := fmt.Sprintf("%s %v", path, fi.Mode())
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(path)
			h := sha256.Sum256(b)
			line += " " + hex.EncodeToString(h[:])
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

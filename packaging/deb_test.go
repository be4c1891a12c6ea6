package packaging_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"postern/mailbox/pgp/pgptest"
)

// maxExposure is the worst `systemd-analyze security` rating the unit may
// have (issue 18: 2.0 or lower).
const maxExposure = 2.0

// TestDebianPackage builds the package as `make deb` does and checks what an
// admin relies on: the files, their modes and owners, the control fields,
// lintian without errors, the unit (verify and its exposure rating), the
// AppArmor profile's syntax, and an install into a throwaway root (dpkg
// --root with chrootless maintainer scripts): the postern user and a 0700
// /var/lib/postern, relay init as that user, an upgrade that keeps the data,
// and a purge that deletes nothing under /var/lib/postern and says how to.
func TestDebianPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the relay and a .deb")
	}
	for _, tool := range []string{"dpkg-deb", "dpkg", "lintian", "systemd-analyze"} {
		pgptest.NeedTool(t, tool)
	}
	out := t.TempDir()
	build := exec.Command("sh", "build-deb.sh", out)
	b, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, b)
	}
	deb := strings.TrimSpace(string(b[bytes.LastIndexByte(bytes.TrimSpace(b), '\n')+1:]))
	if !regexp.MustCompile(`/postern_[0-9][0-9a-z.~+]*_amd64\.deb$`).MatchString(deb) {
		t.Fatalf("package name %q", deb)
	}

	checkContents(t, deb)
	checkControl(t, deb)
	lint := run(t, "lintian", "--tag-display-limit", "0", deb)
	for _, l := range strings.Split(lint, "\n") {
		if strings.HasPrefix(l, "E: ") {
			t.Errorf("lintian: %s", l)
		}
	}

	ex := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, ex)
	checkUnit(t, ex)
	if _, err := exec.LookPath("apparmor_parser"); err != nil {
		t.Log("apparmor_parser not installed (apt-get install apparmor): the profile's syntax is NOT checked")
	} else {
		run(t, "apparmor_parser", "-Q", "-K", filepath.Join(ex, "etc/apparmor.d/postern"))
	}

	if os.Geteuid() != 0 {
		t.Log("not root: the install into a throwaway root and relay init as postern are NOT run (extracted with dpkg-deb -x only)")
		return
	}
	installed(t, deb)
}

// want lists every path of the package with its mode; all belong to root.
var want = map[string]string{
	"./etc/apparmor.d/postern":             "-rw-r--r--",
	"./lib/systemd/system/postern.service": "-rw-r--r--",
	"./usr/bin/relay":                      "-rwxr-xr-x",
	"./usr/lib/sysusers.d/postern.conf":    "-rw-r--r--",
	"./usr/lib/tmpfiles.d/postern.conf":    "-rw-r--r--",
	"./usr/share/doc/postern/README.md":    "-rw-r--r--",
	"./usr/share/doc/postern/admin.md":     "-rw-r--r--",
	"./usr/share/doc/postern/changelog.gz": "-rw-r--r--",
	"./usr/share/doc/postern/copyright":    "-rw-r--r--",
	"./usr/share/man/man8/relay.8.gz":      "-rw-r--r--",
}

func checkContents(t *testing.T, deb string) {
	t.Helper()
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(run(t, "dpkg-deb", "-c", deb)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		mode, owner, path := f[0], f[1], f[len(f)-1]
		if owner != "root/root" {
			t.Errorf("%s belongs to %s", path, owner)
		}
		if strings.HasPrefix(mode, "d") {
			if mode != "drwxr-xr-x" {
				t.Errorf("directory %s has mode %s", path, mode)
			}
			continue
		}
		w, ok := want[path]
		if !ok {
			t.Errorf("unexpected file %s", path)
			continue
		}
		if mode != w {
			t.Errorf("%s has mode %s, want %s", path, mode, w)
		}
		seen[path] = true
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("package lacks %s", p)
		}
	}
}

func checkControl(t *testing.T, deb string) {
	t.Helper()
	fields := run(t, "dpkg-deb", "-f", deb, "Package", "Architecture", "Depends")
	for _, w := range []string{"Package: postern", "Architecture: amd64", "Depends: tor "} {
		if !strings.Contains(fields, w) {
			t.Errorf("control lacks %q:\n%s", w, fields)
		}
	}
	if got := strings.TrimSpace(run(t, "sh", "-c", "dpkg-deb --ctrl-tarfile "+deb+" | tar -xO ./conffiles")); got != "/etc/apparmor.d/postern" {
		t.Errorf("conffiles: %q", got)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for postern\.service: ([0-9.]+)`)

// checkUnit runs systemd-analyze verify (on a copy whose ExecStart names the
// extracted binary: verify wants it to exist) and security --offline=yes.
func checkUnit(t *testing.T, ex string) {
	t.Helper()
	unit := filepath.Join(ex, "lib/systemd/system/postern.service")
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"User=postern", "ExecStart=/usr/bin/relay serve --data /var/lib/postern",
		"Restart=on-failure", "RestartPreventExitStatus=2 78", "AppArmorProfile=postern", "LimitCORE=0"} {
		if !strings.Contains(string(b), w+"\n") {
			t.Errorf("postern.service lacks %q", w)
		}
	}
	dir := t.TempDir()
	cp := filepath.Join(dir, "postern.service")
	fixed := strings.ReplaceAll(string(b), "/usr/bin/relay", filepath.Join(ex, "usr/bin/relay"))
	if err := os.WriteFile(cp, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", "--man=no", cp).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ := exec.Command("systemd-analyze", "security", "--offline=yes", unit).CombinedOutput()
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || level > maxExposure {
		t.Fatalf("postern.service exposure %s, want <= %.1f:\n%s", m[1], maxExposure, out)
	}
	t.Logf("systemd-analyze security: exposure %.1f", level)
}

// installed installs deb into a throwaway root, runs relay init there as
// the postern user, upgrades (reinstalls) and purges.
func installed(t *testing.T, deb string) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dpkg := func(args ...string) string {
		t.Helper()
		// Chrootless scripts get DPKG_ROOT and act on the root (sysusers,
		// tmpfiles with --root); tor and systemd are not in the throwaway root.
		return run(t, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"}, args...)...)
	}
	dpkg("-i", deb)
	uid, gid := lookupUser(t, root, "postern")
	data := filepath.Join(root, "var/lib/postern")
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o700 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Fatalf("/var/lib/postern: mode %v owner %d:%d, want 0700 %d:%d", fi.Mode().Perm(), st.Uid, st.Gid, uid, gid)
	}

	// The postern user must reach the throwaway root (t.TempDir is 0700).
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	init := exec.Command(filepath.Join(root, "usr/bin/relay"), "init", "--data", data)
	init.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	init.Env = []string{"PATH=/usr/bin:/bin"}
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("relay init as postern: %v\n%s", err, out)
	}
	conf := filepath.Join(data, "postern.conf")
	before, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(conf); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != uid {
		t.Fatalf("postern.conf not made by postern: %v", err)
	}

	dpkg("-i", deb) // an upgrade: configure runs with the old version
	if after, err := os.ReadFile(conf); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the upgrade changed the instance: %v", err)
	}

	out := dpkg("--purge", "postern")
	if _, err := os.Stat(conf); err != nil {
		t.Fatalf("purge deleted the data: %v", err)
	}
	if !strings.Contains(out, "was NOT deleted") || !strings.Contains(out, "rm -rf /var/lib/postern") {
		t.Fatalf("purge did not say how to delete the data:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/relay")); !os.IsNotExist(err) {
		t.Fatalf("purge left the binary: %v", err)
	}
}

func lookupUser(t *testing.T, root, name string) (uid, gid int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 7 && f[0] == name {
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
			if uid == 0 || f[6] != "/usr/sbin/nologin" {
				t.Fatalf("user %s: %s", name, l)
			}
			return uid, gid
		}
	}
	t.Fatalf("no user %s in the root's /etc/passwd:\n%s", name, b)
	return 0, 0
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

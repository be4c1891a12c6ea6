package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postern/mailbox/pgp/pgptest"
	"postern/mailbox/store"
	"postern/relay/admin"
	"postern/relay/demokey"
)

// adminKeyFiles writes an admin key pair (unprotected secret key) and
// returns the paths of the public and secret halves.
func adminKeyFiles(t *testing.T) (pub, sec string) {
	t.Helper()
	k, err := demokey.New("Admin", "admin@example.org")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pub, sec = filepath.Join(dir, "admin.pub.asc"), filepath.Join(dir, "admin.sec.asc")
	os.WriteFile(pub, k.Public, 0o600)
	os.WriteFile(sec, k.Secret, 0o600)
	return pub, sec
}

// storeView summarises an instance through the store: salt, sources and
// every mailbox with its UIDs and flags.
func storeView(t *testing.T, dir string) string {
	t.Helper()
	a, err := admin.Open(dir, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := a.Store()
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "salt %x", st.Salt())
	srcs, _ := st.Sources()
	for _, s := range srcs {
		b.WriteString("\nsource " + s.Designation)
	}
	js, _ := st.Journalists()
	for _, j := range js {
		mbs, _ := st.Mailboxes(j.Name)
		for _, mb := range mbs {
			msgs, _ := st.Messages(j.Name, mb.Name)
			b.WriteString("\n" + j.Name + "/" + mb.Name)
			for _, m := range msgs {
				fmt.Fprintf(&b, " %d%v", m.UID, m.Flags)
			}
			fmt.Fprintf(&b, " validity=%d next=%d", mb.UIDValidity, mb.UIDNext)
		}
	}
	return b.String()
}

// TestSourceAndBackupWhileRunning: with a relay running (the demo), source
// commands, compact, status and backup go through the control socket; the
// backup restores with the same sources, mailboxes, UIDs and flags.
func TestSourceAndBackupWhileRunning(t *testing.T) {
	base := t.TempDir()
	conf := filepath.Join(base, "small.conf")
	os.WriteFile(conf, []byte(smallConf), 0o600)
	dir := filepath.Join(base, "demo-data")
	p, info := startDemo(t, dir, conf)
	submitThroughForm(t, info, "the source's secret")

	var list []map[string]any
	out := mustRelay(t, nil, "source", "list", "--json", "--data", dir)
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("source list --json: %q %v", out, err)
	}
	for _, s := range list {
		if s["designation"] == "" || s["messages"] != float64(1) || s["replies"] != float64(0) || s["created"] == "" || s["last_active"] == "" {
			t.Fatalf("source entry %v", s)
		}
		if len(s) != 6 || s["desk"] != "newsroom" {
			t.Fatalf("source list shows more than designation, days, counts and desk: %v", s)
		}
	}
	table := mustRelay(t, nil, "source", "list", "--data", dir)
	if !strings.Contains(table, list[0]["designation"].(string)) || !strings.Contains(table, "LAST ACTIVE") {
		t.Fatalf("source list: %q", table)
	}
	// The first retention pass runs as the relay starts; wait for it.
	status := mustRelay(t, nil, "status", "--data", dir)
	for deadline := time.Now().Add(time.Minute); !strings.Contains(status, "last retention:") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		status = mustRelay(t, nil, "status", "--data", dir)
	}
	if !strings.Contains(status, "relay running:   yes") || !strings.Contains(status, "next retention:  20") ||
		!strings.Contains(status, "last retention:  20") || !strings.Contains(status, "expiring:") {
		t.Fatalf("status: %s", status)
	}
	if out := mustRelay(t, nil, "compact", "--data", dir); !strings.Contains(out, "Database compacted") {
		t.Fatalf("compact: %q", out)
	}

	pub, sec := adminKeyFiles(t)
	bk := filepath.Join(base, "backup.pgp")
	out = mustRelay(t, nil, "backup", "--data", dir, "--out", bk, "--to", pub)
	fp := instanceFingerprint(t, dir)
	if !strings.Contains(out, "written to "+bk) || !strings.Contains(out, "signed by this instance: "+fp) {
		t.Fatalf("backup: %q", out)
	}
	if fi, err := os.Stat(bk); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	want := storeViewWhileRunning(t, dir)

	// Deleting a source through the running relay.
	gone := list[0]["designation"].(string)
	out = mustRelay(t, nil, "source", "delete", gone, "--data", dir)
	if !strings.Contains(out, "deleted: 1 submissions") {
		t.Fatalf("source delete: %q", out)
	}
	if r := relay(t, nil, "source", "delete", gone, "--data", dir); r.code != 1 || !strings.Contains(r.stderr, "no source designated") {
		t.Fatalf("second delete: %+v", r)
	}
	p.stop(t)

	target := filepath.Join(base, "restored")
	out = mustRelay(t, nil, "restore", "--in", bk, "--data", target, "--key", sec, "--instance", fp)
	if !strings.Contains(out, "Restored the backup") {
		t.Fatalf("restore: %q", out)
	}
	if got := storeView(t, target); got != want {
		t.Fatalf("restored instance differs\n got %q\nwant %q", got, want)
	}
	if out := mustRelay(t, nil, "source", "list", "--data", target); !strings.Contains(out, gone) {
		t.Fatalf("the deleted source should be in the older backup: %q", out)
	}
	// Demo files came along, so the restored demo still decrypts its mail.
	for _, name := range []string{"demo-journalist.sec.asc", "postern.conf"} {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, err := os.ReadFile(filepath.Join(target, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s not restored: %v", name, err)
		}
	}
}

// storeViewWhileRunning reads the view through a backup-free path: the demo
// holds the lock, so it restores a fresh backup into a temp dir first.
func storeViewWhileRunning(t *testing.T, dir string) string {
	t.Helper()
	pub, sec := adminKeyFiles(t)
	tmp := t.TempDir()
	bk := filepath.Join(tmp, "b.pgp")
	fp := backupTo(t, dir, bk, pub)
	mustRelay(t, nil, "restore", "--in", bk, "--data", filepath.Join(tmp, "r"), "--key", sec, "--instance", fp)
	return storeView(t, filepath.Join(tmp, "r"))
}

// backupTo runs relay backup --json and returns the instance fingerprint it
// printed.
func backupTo(t *testing.T, dir, out, pub string) string {
	t.Helper()
	var res map[string]any
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "backup", "--data", dir, "--out", out, "--to", pub, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	fp, _ := res["instance_fingerprint"].(string)
	if fp == "" {
		t.Fatalf("backup --json without instance_fingerprint: %v", res)
	}
	return fp
}

// instanceFingerprint is what relay status --json shows as instance_fingerprint.
func instanceFingerprint(t *testing.T, dir string) string {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "status", "--data", dir, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	fp, _ := st["instance_fingerprint"].(string)
	return fp
}

func TestBackupRestoreMisuse(t *testing.T) {
	dir := newInstance(t)
	pub, sec := adminKeyFiles(t)
	base := t.TempDir()
	bk := filepath.Join(base, "b.pgp")
	jkey, _ := writeKey(t, base)
	fp := instanceFingerprint(t, dir)
	before := snapshot(t, dir)
	usage := [][]string{
		{"backup", "--data", dir},
		{"backup", "--data", dir, "--out", bk},
		{"backup", "--data", dir, "--to", pub},
		{"backup", "--data", dir, "--out", bk, "--to", pub, "extra"},
		{"restore", "--data", filepath.Join(base, "r")},
		{"restore", "--data", filepath.Join(base, "r"), "--in", bk},
		{"restore", "--data", filepath.Join(base, "r"), "--in", bk, "--key", sec, "--plain"},
		{"restore", "--data", filepath.Join(base, "r"), "--in", "-", "--key", "-"},
		{"restore", "--data", filepath.Join(base, "r"), "--in", bk, "--key", sec},
		{"restore", "--data", filepath.Join(base, "r"), "--in", bk, "--key", sec, "--instance", "not-a-fingerprint"},
		{"restore", "--data", filepath.Join(base, "r"), "--in", bk, "--key", sec, "--instance", fp, "--trust-any-instance"},
		{"source"},
		{"source", "frobnicate"},
		{"source", "delete", "--data", dir},
		{"source", "prune", "--data", dir},
		{"source", "prune", "--data", dir, "--inactive", "soon"},
		{"source", "prune", "--data", dir, "--inactive", "0"},
		{"source", "list", "--data", dir, "surplus"},
		{"compact", "--data", dir, "surplus"},
	}
	for _, args := range usage {
		if r := relay(t, nil, args...); r.code != 2 {
			t.Errorf("relay %s: exit %d, want 2\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	secKey, _ := os.ReadFile(sec)
	failures := []struct {
		args  []string
		stdin []byte
		msg   string
	}{
		{[]string{"backup", "--data", dir, "--out", bk, "--to", filepath.Join(base, "missing.asc")}, nil, "cannot read key file"},
		{[]string{"backup", "--data", dir, "--out", bk, "--to", "-"}, secKey, "secret"},
		{[]string{"backup", "--data", dir, "--out", bk, "--to", "-"}, []byte("not a key"), "--to"},
		{[]string{"backup", "--data", filepath.Join(base, "nothing"), "--out", bk, "--to", pub}, nil, "does not exist"},
		{[]string{"source", "delete", "nobody at all", "--data", dir}, nil, "no source designated"},
	}
	for _, c := range failures {
		r := relay(t, c.stdin, c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("relay %s: %+v, want exit 1 with %q", strings.Join(c.args, " "), r, c.msg)
		}
	}
	if _, err := os.Stat(bk); !os.IsNotExist(err) {
		t.Fatal("a failed backup left a file")
	}
	if entries, _ := os.ReadDir(base); len(entries) != 1 { // the journalist key file only
		t.Fatalf("left behind: %v", entries)
	}
	if snapshot(t, dir) != before {
		t.Fatal("misuse changed the instance")
	}

	// A good backup; then an existing --out is never overwritten.
	mustRelay(t, nil, "backup", "--data", dir, "--out", bk, "--to", pub)
	good, _ := os.ReadFile(bk)
	if r := relay(t, nil, "backup", "--data", dir, "--out", bk, "--to", pub); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("overwrite: %+v", r)
	}
	if now, _ := os.ReadFile(bk); !bytes.Equal(now, good) {
		t.Fatal("the existing backup was changed")
	}

	// Restore refusals leave the target as it was.
	nonEmpty := filepath.Join(base, "full")
	os.MkdirAll(nonEmpty, 0o700)
	os.WriteFile(filepath.Join(nonEmpty, "keep"), []byte("x"), 0o600)
	corrupt := filepath.Join(base, "corrupt.pgp")
	c := bytes.Clone(good)
	c[len(c)/2] ^= 1
	os.WriteFile(corrupt, c, 0o600)
	trunc := filepath.Join(base, "trunc.pgp")
	os.WriteFile(trunc, good[:len(good)*2/3], 0o600)
	_, otherSec := adminKeyFiles(t)
	refusals := []struct {
		name string
		args []string
		msg  string
	}{
		{"non-empty target", []string{"restore", "--in", bk, "--key", sec, "--data", nonEmpty, "--instance", fp}, "not empty"},
		{"instance as target", []string{"restore", "--in", bk, "--key", sec, "--data", dir, "--instance", fp}, "not empty"},
		{"corrupt", []string{"restore", "--in", corrupt, "--key", sec, "--data", filepath.Join(base, "r1"), "--instance", fp}, "damaged"},
		{"truncated", []string{"restore", "--in", trunc, "--key", sec, "--data", filepath.Join(base, "r2"), "--instance", fp}, "damaged"},
		{"wrong key", []string{"restore", "--in", bk, "--key", otherSec, "--data", filepath.Join(base, "r3"), "--instance", fp}, "another key"},
		{"public key", []string{"restore", "--in", bk, "--key", pub, "--data", filepath.Join(base, "r4"), "--instance", fp}, "not a secret key"},
		{"plain but encrypted", []string{"restore", "--in", bk, "--plain", "--data", filepath.Join(base, "r5"), "--instance", fp}, "damaged"},
		{"journalist key file as backup", []string{"restore", "--in", jkey, "--key", sec, "--data", filepath.Join(base, "r6"), "--instance", fp}, "restore refused"},
	}
	for _, rf := range refusals {
		beforeFull, beforeDir := snapshot(t, nonEmpty), snapshot(t, dir)
		r := relay(t, nil, rf.args...)
		if r.code != 1 || !strings.Contains(r.stderr, rf.msg) {
			t.Errorf("%s: %+v, want exit 1 with %q", rf.name, r, rf.msg)
		}
		if snapshot(t, nonEmpty) != beforeFull || snapshot(t, dir) != beforeDir {
			t.Errorf("%s: a target changed", rf.name)
		}
	}
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "r") && len(e.Name()) == 2 || strings.Contains(e.Name(), ".restore-") {
			t.Errorf("a refused restore left %s", e.Name())
		}
	}
}

// TestRestoreWithGPG: the admin's key lives in gpg with a passphrase. The
// backup restores with the exported secret key and the passphrase on stdin
// (never argv), and equally from `gpg --decrypt … | relay restore --plain`.
func TestRestoreWithGPG(t *testing.T) {
	g := pgptest.NewGPG(t)
	const pass = "open sesame"
	pgptest.Run(t, nil, "gpg", "--homedir", g.Home, "--batch", "--pinentry-mode", "loopback", "--passphrase", pass,
		"--quick-gen-key", "Admin <admin@example.org>", "future-default", "default", "never")
	fpr := g.Fingerprint("Admin <admin@example.org>")
	base := t.TempDir()
	pub, sec := filepath.Join(base, "pub.asc"), filepath.Join(base, "sec.asc")
	os.WriteFile(pub, g.Export(fpr), 0o600)
	os.WriteFile(sec, pgptest.Run(t, nil, "gpg", "--homedir", g.Home, "--batch", "--pinentry-mode", "loopback",
		"--passphrase", pass, "--armor", "--export-secret-keys", fpr), 0o600)

	dir := newInstance(t)
	addSource(t, dir)
	want := storeView(t, dir)
	bk := filepath.Join(base, "b.pgp")
	fp := backupTo(t, dir, bk, pub)

	r := relay(t, []byte("wrong\n"), "restore", "--in", bk, "--key", sec, "--data", filepath.Join(base, "bad"), "--instance", fp)
	if r.code != 1 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("wrong passphrase: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(base, "bad")); !os.IsNotExist(err) {
		t.Fatal("a refused restore created the target")
	}
	mustRelay(t, []byte(pass+"\n"), "restore", "--in", bk, "--key", sec, "--data", filepath.Join(base, "one"), "--instance", fp)
	if got := storeView(t, filepath.Join(base, "one")); got != want {
		t.Fatalf("restore with the passphrase differs\n got %q\nwant %q", got, want)
	}
	plain := pgptest.Run(t, nil, "gpg", "--homedir", g.Home, "--batch", "--pinentry-mode", "loopback",
		"--passphrase", pass, "--decrypt", bk)
	out := mustRelay(t, plain, "restore", "--in", "-", "--plain", "--data", filepath.Join(base, "two"), "--json", "--instance", fp)
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["files"] == nil {
		t.Fatalf("restore --json: %q %v", out, err)
	}
	if got := storeView(t, filepath.Join(base, "two")); got != want {
		t.Fatalf("restore from gpg's plaintext differs")
	}
}

// addSource puts a source with a submission into a stopped instance.
func addSource(t *testing.T, dir string) {
	t.Helper()
	a, err := admin.Open(dir, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := a.Store()
	if err := st.AddJournalist(store.Journalist{Name: "ana", PasswordHash: "$argon2id$x"}); err != nil {
		t.Fatal(err)
	}
	src := store.Source{ID: bytes.Repeat([]byte{9}, 32), Designation: "tidy walrus", Address: "tidy.walrus@postern.local"}
	if err := st.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	ref := putBlob(t, st, "ciphertext stand-in")
	if err := st.Deliver(store.Delivery{Blob: ref, SourceID: src.ID, Flags: []string{`\Flagged`}}); err != nil {
		t.Fatal(err)
	}
}

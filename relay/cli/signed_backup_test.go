package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"postern/relay/identity"
)

// TestStatusJSONCarriesInstanceFingerprint: relay status shows the fingerprint
// of the key that signs the instance's backups, in text and as
// instance_fingerprint in --json, and it is the one relay backup prints.
func TestStatusJSONCarriesInstanceFingerprint(t *testing.T) {
	dir := newInstance(t)
	fp := instanceFingerprint(t, dir)
	if _, err := identity.ParseFingerprint(fp); err != nil {
		t.Fatalf("status --json instance_fingerprint %q: %v", fp, err)
	}
	if out := mustRelay(t, nil, "status", "--data", dir); !strings.Contains(out, "instance:        "+fp) {
		t.Fatalf("status text without the fingerprint: %s", out)
	}
	pub, _ := adminKeyFiles(t)
	if got := backupTo(t, dir, filepath.Join(t.TempDir(), "b.pgp"), pub); got != fp {
		t.Fatalf("backup signed by %s, status says %s", got, fp)
	}
	if fi, err := os.Stat(filepath.Join(dir, identity.FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity key file: %v %v", fi, err)
	}
}

// TestRestoreRefusesBackupMadeOnAnotherInstance: with only the victim admin's
// public key, another instance's backup (its own settings, its own tor_extra)
// is refused by restore --instance VICTIM with one line, the target untouched;
// the victim's genuine backup restores and says of which day it is.
func TestRestoreRefusesBackupMadeOnAnotherInstance(t *testing.T) {
	victim := newInstance(t)
	attacker := newInstanceWith(t, "tor_extra = ControlPort 0.0.0.0:9051\n")
	pub, sec := adminKeyFiles(t)
	base := t.TempDir()
	forged := filepath.Join(base, "forged.pgp")
	backupTo(t, attacker, forged, pub)
	victimFP := instanceFingerprint(t, victim)

	target := filepath.Join(base, "restored")
	r := relay(t, nil, "restore", "--in", forged, "--key", sec, "--data", target, "--instance", victimFP)
	if r.code != 1 || !strings.Contains(r.stderr, "restore refused") || !strings.Contains(r.stderr, "comes from instance "+instanceFingerprint(t, attacker)) ||
		strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("another instance's backup: %+v", r)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatal("a refused restore created the target")
	}

	genuine := filepath.Join(base, "genuine.pgp")
	var res map[string]any
	json.Unmarshal([]byte(mustRelay(t, nil, "backup", "--data", victim, "--out", genuine, "--to", pub, "--json")), &res)
	day, _ := res["backup_day"].(string)
	out := mustRelay(t, nil, "restore", "--in", genuine, "--key", sec, "--data", target, "--instance", victimFP)
	if day == "" || !strings.Contains(out, "Restored the backup of "+day) || !strings.Contains(out, "signed by instance "+victimFP) {
		t.Fatalf("restore of the genuine backup: %q (backup day %q)", out, day)
	}
	if got := instanceFingerprint(t, target); got != victimFP {
		t.Fatalf("the restored instance is %s, not %s", got, victimFP)
	}
	// --trust-any-instance takes the other's backup, saying so loudly.
	r = relay(t, nil, "restore", "--in", forged, "--key", sec, "--data", filepath.Join(base, "any"), "--trust-any-instance")
	if r.code != 0 || !strings.Contains(r.stderr, "WARNING: --trust-any-instance") || !strings.Contains(r.stdout, "origin NOT checked") {
		t.Fatalf("--trust-any-instance: %+v", r)
	}
}

// TestRestoredTorExtraIsNotAppliedSilently: tor_extra lines that arrive in a
// restored postern.conf are named by restore, shown by status, and relay
// serve refuses to start with them (writing no torrc) unless
// --allow-tor-extra is given.
func TestRestoredTorExtraIsNotAppliedSilently(t *testing.T) {
	dir := newInstanceWith(t, "tor_extra = ControlPort 0.0.0.0:9051\n")
	pub, sec := adminKeyFiles(t)
	base := t.TempDir()
	bk := filepath.Join(base, "b.pgp")
	fp := backupTo(t, dir, bk, pub)
	target := filepath.Join(base, "restored")
	r := relay(t, nil, "restore", "--in", bk, "--key", sec, "--data", target, "--instance", fp)
	if r.code != 0 || !strings.Contains(r.stderr, "WARNING: the restored postern.conf sets 1 tor_extra line") {
		t.Fatalf("restore: %+v", r)
	}
	status := mustRelay(t, nil, "status", "--data", target)
	if !strings.Contains(status, "tor_extra:       1 line(s), 1 beyond a test-network include") || !strings.Contains(status, "--allow-tor-extra") {
		t.Fatalf("status: %s", status)
	}
	missingTor := filepath.Join(base, "no-such-tor")
	r = relay(t, nil, "serve", "--data", target, "--tor", missingTor)
	if r.code != 78 || !strings.Contains(r.stderr, "tor_extra") || !strings.Contains(r.stderr, "--allow-tor-extra") {
		t.Fatalf("serve with a restored tor_extra: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(target, "tor", "torrc")); !os.IsNotExist(err) {
		t.Fatal("serve wrote a torrc although it refused")
	}
	// With the flag, serve goes past the check (and stops at the missing tor).
	r = relay(t, nil, "serve", "--data", target, "--tor", missingTor, "--allow-tor-extra")
	if r.code != 78 || !strings.Contains(r.stdout, "WARNING: --allow-tor-extra") || !strings.Contains(r.stderr, "tor program was not found") {
		t.Fatalf("serve --allow-tor-extra: %+v", r)
	}
}

// TestRestoreWarnsOfAnOlderBackup: restore remembers, beside the admin's key,
// the newest backup day it restored per instance, and warns loudly when a
// backup is older than that.
func TestRestoreWarnsOfAnOlderBackup(t *testing.T) {
	dir := newInstance(t)
	pub, sec := adminKeyFiles(t)
	base := t.TempDir()
	bk := filepath.Join(base, "b.pgp")
	fp := backupTo(t, dir, bk, pub)
	r := relay(t, nil, "restore", "--in", bk, "--key", sec, "--data", filepath.Join(base, "one"), "--instance", fp)
	if r.code != 0 || strings.Contains(r.stderr, "OLDER") {
		t.Fatalf("first restore: %+v", r)
	}
	record := filepath.Join(filepath.Dir(sec), "postern-backups-seen.json")
	b, err := os.ReadFile(record)
	if err != nil || !strings.Contains(string(b), fp) {
		t.Fatalf("record: %q %v", b, err)
	}
	// A newer backup of this instance was restored here (a later day).
	os.WriteFile(record, []byte(`{"instances": {"`+fp+`": "2999-01-01"}}`), 0o600)
	r = relay(t, nil, "restore", "--in", bk, "--key", sec, "--data", filepath.Join(base, "two"), "--instance", fp)
	if r.code != 0 || !strings.Contains(r.stderr, "WARNING: this backup is OLDER") || !strings.Contains(r.stderr, "2999-01-01") {
		t.Fatalf("older backup: %+v", r)
	}
}

// TestRestoreWarnsOfAnOlderBackupOfTheSameDay: backups carry a growing
// serial inside the signed manifest, so of two backups made the same day the
// earlier one is recognised as older once the later one was restored;
// restoring the same backup twice is not a warning, and an instance restored
// from a backup goes on counting from it.
func TestRestoreWarnsOfAnOlderBackupOfTheSameDay(t *testing.T) {
	dir := newInstance(t)
	pub, sec := adminKeyFiles(t)
	base := t.TempDir()
	first, second := filepath.Join(base, "1.pgp"), filepath.Join(base, "2.pgp")
	fp := backupTo(t, dir, first, pub)
	backupTo(t, dir, second, pub)
	restore := func(in, target string) result {
		return relay(t, nil, "restore", "--in", in, "--key", sec, "--data", filepath.Join(base, target), "--instance", fp)
	}
	if r := restore(second, "a"); r.code != 0 || strings.Contains(r.stderr, "OLDER") {
		t.Fatalf("restore of the newer backup: %+v", r)
	}
	if r := restore(second, "b"); r.code != 0 || strings.Contains(r.stderr, "OLDER") {
		t.Fatalf("the same backup restored again: %+v", r)
	}
	if r := restore(first, "c"); r.code != 0 || !strings.Contains(r.stderr, "WARNING: this backup is OLDER") ||
		!strings.Contains(r.stderr, "backup number 1,") || !strings.Contains(r.stderr, "backup number 2,") {
		t.Fatalf("the earlier backup of the same day: %+v", r)
	}
	// The instance restored from backup 2 makes backup 3: not older.
	third := filepath.Join(base, "3.pgp")
	backupTo(t, filepath.Join(base, "a"), third, pub)
	if r := restore(third, "d"); r.code != 0 || strings.Contains(r.stderr, "OLDER") {
		t.Fatalf("a backup of the restored instance: %+v", r)
	}
}

// newInstanceWith is newInstance with more settings.
func newInstanceWith(t *testing.T, conf string) string {
	t.Helper()
	base := t.TempDir()
	path := filepath.Join(base, "small.conf")
	if err := os.WriteFile(path, []byte(smallConf+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "inst")
	mustRelay(t, nil, "init", "--data", dir, "--config", path)
	return dir
}

// TestRestoreNamesTheArchiveKey: a restored postern.conf that gives every
// submission to an archive key says so, with the key's path, so that a key
// planted in a backup does not read the newsroom's mail unseen.
func TestRestoreNamesTheArchiveKey(t *testing.T) {
	dir := newInstance(t)
	pub, sec := adminKeyFiles(t)
	key, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "archive.asc"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "postern.conf")
	conf, err := os.ReadFile(confPath)
	if err != nil {
		t.Fatal(err)
	}
	set := regexp.MustCompile(`(?m)^archive_key_file *=.*$`).ReplaceAll(conf, []byte("archive_key_file = archive.asc"))
	if bytes.Equal(set, conf) {
		t.Fatal("postern.conf has no archive_key_file line to set")
	}
	if err := os.WriteFile(confPath, set, 0o600); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	bk := filepath.Join(base, "b.pgp")
	fp := backupTo(t, dir, bk, pub)
	target := filepath.Join(base, "restored")
	r := relay(t, nil, "restore", "--in", bk, "--key", sec, "--data", target, "--instance", fp)
	want := "WARNING: the restored postern.conf gives every submission to the archive key in " + filepath.Join(target, "archive.asc")
	if r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("restore: %+v", r)
	}
}

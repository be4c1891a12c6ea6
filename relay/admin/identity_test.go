package admin

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postern/relay/backup"
	"postern/relay/config"
	"postern/relay/identity"
)

// TestRestoreRefusesBackupOfAnotherInstance is the audit's forgery: an
// attacker makes a backup on their own instance (their own journalist, an
// archive key they planted, tor_extra lines opening a control port),
// encrypted to the victim admin's public key, which is all they need. Restore
// with the victim's fingerprint refuses it and leaves the target absent; the
// victim's own backup restores.
func TestRestoreRefusesBackupOfAnotherInstance(t *testing.T) {
	victim := newFixture(t, "ana")
	victim.submit(t, victim.newSource(t), "a real submission")
	adminPub := adminKey(t, "a") // the attacker needs only its public half

	attacker := newFixture(t, "jane")
	cfg := attacker.a.cfg
	cfg.ArchiveKeyFile = "archive.asc"
	cfg.TorExtra = []string{"HiddenServiceDir /tmp/x", "ControlPort 0.0.0.0:9051"}
	os.Remove(filepath.Join(attacker.dir, config.FileName))
	if err := cfg.WriteFile(attacker.dir); err != nil {
		t.Fatal(err)
	}
	attacker.a.cfg = cfg
	if err := os.WriteFile(filepath.Join(attacker.dir, "archive.asc"), []byte("attacker's archive key"), 0o600); err != nil {
		t.Fatal(err)
	}
	forged := takeBackup(t, attacker.a, adminPub)

	target := filepath.Join(t.TempDir(), "restored")
	err := restore(victim.a, forged, adminPub, target)
	if !errors.Is(err, backup.ErrSignature) || !strings.Contains(err.Error(), attacker.a.InstanceFingerprint()) {
		t.Fatalf("a backup of another instance: %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("the refusal is not one line: %q", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused restore created the target")
	}
	if entries, _ := os.ReadDir(filepath.Dir(target)); len(entries) != 0 {
		t.Fatalf("a refused restore left %v", entries)
	}
	if err := restore(victim.a, takeBackup(t, victim.a, adminPub), adminPub, target); err != nil {
		t.Fatalf("the victim's own backup: %v", err)
	}
	if k, err := identity.Load(target); err != nil || k.Fingerprint().String() != victim.a.InstanceFingerprint() {
		t.Fatalf("the restored instance is not the victim: %v", err)
	}
}

// TestRestoreRefusesUnknownEntries: whoever signed it, an archive holding a
// file `relay backup` never writes is refused, the target left absent.
func TestRestoreRefusesUnknownEntries(t *testing.T) {
	f := newFixture(t, "ana")
	f.submit(t, f.newSource(t), "x")
	extra, err := f.a.backupFiles()
	if err != nil {
		t.Fatal(err)
	}
	// A signed archive with one more file: exactly what Admin.Backup writes
	// plus name.
	signedWith := func(name string) []byte {
		sn, err := f.a.st.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer sn.Close()
		var buf bytes.Buffer
		files := append(append([]backup.File{}, extra...), backup.File{Path: name, Data: []byte("SocksPort 0.0.0.0:9050\n")})
		if _, err := backup.Write(context.Background(), &buf, backup.StoreSnapshot{Snapshot: sn},
			backup.WriteOptions{Extra: files, Now: f.clock.Now(), Key: f.a.id}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, name := range []string{"notes.txt", "tor/torrc", "onion/evil.key", "demo-journalist.sec.asc", "keys/archive.asc"} {
		t.Run(name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "restored")
			_, err := backup.Restore(context.Background(), bytes.NewReader(signedWith(name)), target, restoreOptions(f.a))
			if !errors.Is(err, backup.ErrArchive) || !strings.Contains(err.Error(), name) {
				t.Fatalf("unknown entry %s: %v", name, err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(target)); len(entries) != 0 {
				t.Fatalf("a refused restore left %v", entries)
			}
		})
	}
	// The archive key the settings name is known.
	cfg := f.a.cfg
	cfg.ArchiveKeyFile = "keys/archive.asc"
	os.Remove(filepath.Join(f.dir, config.FileName))
	if err := cfg.WriteFile(f.dir); err != nil {
		t.Fatal(err)
	}
	if extra, err = f.a.backupFiles(); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(context.Background(), bytes.NewReader(signedWith("keys/archive.asc")),
		filepath.Join(t.TempDir(), "restored"), restoreOptions(f.a)); err != nil {
		t.Fatalf("the configured archive key: %v", err)
	}
}

// TestInstanceWithoutIdentityKeyGetsOneOnce: an instance made before identity
// keys existed gets one (0600) at its first open, says so once, and keeps it.
func TestInstanceWithoutIdentityKeyGetsOneOnce(t *testing.T) {
	f := newFixture(t)
	dir := f.dir
	f.a.Close()
	if err := os.Remove(filepath.Join(dir, identity.FileName)); err != nil {
		t.Fatal(err)
	}
	open := func() (string, string) {
		var log bytes.Buffer
		a, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		st, err := a.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.InstanceFingerprint != a.InstanceFingerprint() {
			t.Fatalf("status shows %q, the instance is %q", st.InstanceFingerprint, a.InstanceFingerprint())
		}
		return st.InstanceFingerprint, log.String()
	}
	first, log := open()
	if _, err := identity.ParseFingerprint(first); err != nil {
		t.Fatalf("status: instance fingerprint %q: %v", first, err)
	}
	if !strings.Contains(log, "had no identity key") || !strings.Contains(log, first) {
		t.Fatalf("the migration was not announced: %q", log)
	}
	if fi, err := os.Stat(filepath.Join(dir, identity.FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity key file: %v %v", fi, err)
	}
	second, log := open()
	if second != first || strings.Contains(log, "identity key") {
		t.Fatalf("second open: %q (was %q), log %q", second, first, log)
	}
	if _, err := config.Load(dir); err != nil {
		t.Fatal(err)
	}
}

// TestStatusShowsTorExtraAndItsFlag: status lists the tor_extra lines, names
// those beyond a test-network include, and warns differently when the running
// relay lets them into tor with --allow-tor-extra.
func TestStatusShowsTorExtraAndItsFlag(t *testing.T) {
	f := newFixture(t, "ana")
	f.a.cfg.TorExtra = []string{"ControlPort 0.0.0.0:9051"}
	st, err := f.a.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.TorExtra) != 1 || len(st.TorExtraBeyondTestNetwork) != 1 || !hasWarning(st, "refuses to start with them unless --allow-tor-extra") {
		t.Fatalf("stopped relay: %+v", st)
	}
	f.a.SetHooks(Hooks{Tor: func() TorStatus { return TorStatus{Bootstrap: 100, AllowTorExtra: true} }})
	if st, err = f.a.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !st.Tor.AllowTorExtra || !hasWarning(st, "relay serve runs with --allow-tor-extra") {
		t.Fatalf("relay running with --allow-tor-extra: %+v", st)
	}
}

func hasWarning(st Status, part string) bool {
	for _, w := range st.Warnings {
		if strings.Contains(w, part) {
			return true
		}
	}
	return false
}

// TestUnsignedBackupRestoresOnlyWhenTrustingAnyInstance: a backup made before
// backups were signed (format 1: no identity key, no signature) is refused
// with --instance, and with --trust-any-instance restores and gets a new
// identity key of its own.
func TestUnsignedBackupRestoresOnlyWhenTrustingAnyInstance(t *testing.T) {
	f := newFixture(t, "ana")
	f.submit(t, f.newSource(t), "from before signing")
	var signed bytes.Buffer
	if err := f.a.Backup(context.Background(), &signed, nil); err != nil {
		t.Fatal(err)
	}
	old := asFormat1(t, signed.Bytes())

	target := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(context.Background(), bytes.NewReader(old), target, restoreOptions(f.a)); !errors.Is(err, backup.ErrSignature) {
		t.Fatalf("unsigned backup with --instance: %v", err)
	}
	trustAny := backup.RestoreOptions{ExtractOptions: backup.ExtractOptions{AnyInstance: true, Unsigned: true}, Check: CheckRestored}
	m, err := backup.Restore(context.Background(), bytes.NewReader(old), target, trustAny)
	if err != nil || m.Instance != "" {
		t.Fatalf("unsigned backup with --trust-any-instance: %+v %v", m, err)
	}
	k, err := identity.Load(target)
	if err != nil || k.Fingerprint().String() == f.a.InstanceFingerprint() {
		t.Fatalf("the restored instance has no identity key of its own: %v", err)
	}
}

// asFormat1 rewrites a signed archive as relay backup wrote it before
// signing: header and manifest of format 1, no identity key, no signature.
func asFormat1(t *testing.T, signed []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(signed))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	m := backup.Manifest{Format: backup.FormatUnsigned}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		switch h.Name {
		case identity.FileName, backup.ManifestName, backup.SignatureName:
			continue
		case backup.HeaderName:
			var hdr backup.Header
			json.Unmarshal(data, &hdr)
			hdr.Format = backup.FormatUnsigned
			m.Created = hdr.Created
			data, _ = json.Marshal(hdr)
		}
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
		sum := sha256.Sum256(data)
		m.Files = append(m.Files, backup.Entry{Path: h.Name, Size: h.Size, SHA256: hex.EncodeToString(sum[:])})
	}
	mb, _ := json.Marshal(m)
	tw.WriteHeader(&tar.Header{Name: backup.ManifestName, Typeflag: tar.TypeReg, Size: int64(len(mb)), Mode: 0o600})
	tw.Write(mb)
	tw.Close()
	return out.Bytes()
}

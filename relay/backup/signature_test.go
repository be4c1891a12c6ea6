package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// tarOf writes entries, then the manifest m (when not nil) and sig (when not
// nil), as the last entries.
func tarOf(t testing.TB, entries []entry, m *Manifest, sig []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(len(data)), Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	for _, e := range entries {
		put(e.name, e.data)
	}
	if m != nil {
		mb, _ := json.Marshal(m)
		put(ManifestName, mb)
	}
	if sig != nil {
		put(SignatureName, sig)
	}
	tw.Close()
	return buf.Bytes()
}

func manifestOf(format int, instance string, entries []entry) Manifest {
	m := Manifest{Format: format, Created: "2026-03-03", Instance: instance}
	for _, e := range entries {
		sum := sha256.Sum256(e.data)
		m.Files = append(m.Files, Entry{Path: e.name, Size: int64(len(e.data)), SHA256: hex.EncodeToString(sum[:])})
	}
	return m
}

func extractErr(t *testing.T, data []byte, o ExtractOptions) error {
	t.Helper()
	_, err := Extract(context.Background(), bytes.NewReader(data), t.TempDir(), o)
	return err
}

// verifyErr checks as Extract does, writing nothing (many variants are tried).
func verifyErr(data []byte, o ExtractOptions) error {
	_, err := Verify(context.Background(), bytes.NewReader(data), o)
	return err
}

// TestRestoreRefusesBackupOfAnotherInstance: an archive made on another
// instance (all anyone needs is the admin's public key to encrypt it) is
// refused when the victim's fingerprint is expected, whether it says so or
// claims to be the victim's; the victim's own archive passes.
func TestRestoreRefusesBackupOfAnotherInstance(t *testing.T) {
	victim := trusting()
	if err := extractErr(t, archive(t, sample(), nil), victim); err != nil {
		t.Fatalf("the genuine archive is refused: %v", err)
	}
	forged := archiveBy(t, otherKey, sample(), []File{keyFile(otherKey)})
	err := extractErr(t, forged, victim)
	if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "comes from instance "+otherKey.Fingerprint().String()) {
		t.Fatalf("another instance's archive: %v", err)
	}
	// Claiming the victim's fingerprint does not help without its key.
	entries := []entry{header(), {name: DBName, data: []byte("db")}, {name: "postern.conf", data: []byte("tor_extra = ControlPort 0.0.0.0:9051\n")}, keyEntry()}
	m := manifestOf(Format, testKey.Fingerprint().String(), entries)
	mb, _ := json.Marshal(m)
	claimed := tarOf(t, entries, &m, otherKey.Sign(SignaturePurpose, mb))
	if err := extractErr(t, claimed, victim); !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("an archive claiming the victim's fingerprint: %v", err)
	}
	// Signed by the victim but carrying another identity key: the restored
	// instance would not be the victim.
	swapped := []entry{entries[0], entries[1], entries[2], {name: keyEntry().name, data: keyFile(otherKey).Data}}
	m = manifestOf(Format, testKey.Fingerprint().String(), swapped)
	mb, _ = json.Marshal(m)
	if err := extractErr(t, tarOf(t, swapped, &m, testKey.Sign(SignaturePurpose, mb)), victim); !errors.Is(err, ErrSignature) {
		t.Fatalf("an archive carrying another identity key: %v", err)
	}
	// --trust-any-instance takes another instance's archive, still checked.
	if err := extractErr(t, forged, ExtractOptions{AnyInstance: true}); err != nil {
		t.Fatalf("any instance: %v", err)
	}
	if err := extractErr(t, claimed, ExtractOptions{AnyInstance: true}); !errors.Is(err, ErrSignature) {
		t.Fatalf("any instance, bad signature: %v", err)
	}
}

// TestSignedArchiveRefusesAlteration: a changed byte in any entry, a dropped
// or replaced signature, a manifest rewritten to match changed files, and a
// cut at any block boundary are all refused.
func TestSignedArchiveRefusesAlteration(t *testing.T) {
	good := archive(t, sample(), []File{{"postern.conf", []byte("mail_domain = example.org\n")}})
	victim := trusting()
	// A byte changed anywhere (tar headers included) that changes what the
	// archive holds; a change in padding changes nothing and may pass.
	for off := 0; off < len(good)-1024; off += 29 {
		bad := bytes.Clone(good)
		bad[off] ^= 0x20
		if err := verifyErr(bad, victim); err == nil && !sameContent(good, bad) {
			t.Errorf("a change at offset %d passed", off)
		}
	}
	for cut := 0; cut < len(good)-1024; cut += 512 {
		if err := verifyErr(good[:cut], victim); !errors.Is(err, ErrArchive) && !errors.Is(err, ErrSignature) {
			t.Errorf("cut at %d: %v", cut, err)
		}
	}
	entries := []entry{header(), {name: DBName, data: []byte("db")}, {name: "postern.conf", data: []byte("c")}, keyEntry()}
	m := manifestOf(Format, testKey.Fingerprint().String(), entries)
	mb, _ := json.Marshal(m)
	sig := testKey.Sign(SignaturePurpose, mb)
	if err := extractErr(t, tarOf(t, entries, &m, sig), victim); err != nil {
		t.Fatalf("the well-formed archive is refused: %v", err)
	}
	if err := extractErr(t, tarOf(t, entries, &m, nil), victim); !errors.Is(err, ErrArchive) {
		t.Errorf("no signature: %v", err)
	}
	changed := append(entries[:2:2], entry{name: "postern.conf", data: []byte("tor_extra = ControlPort 9051\n")}, keyEntry())
	m2 := manifestOf(Format, testKey.Fingerprint().String(), changed)
	if err := extractErr(t, tarOf(t, changed, &m2, sig), victim); !errors.Is(err, ErrSignature) {
		t.Errorf("manifest rewritten to match a changed file: %v", err)
	}
	if err := extractErr(t, tarOf(t, changed, &m, sig), victim); !errors.Is(err, ErrArchive) {
		t.Errorf("changed file under the signed manifest: %v", err)
	}
	late := tarOf(t, append(entries, entry{name: "late", data: []byte("x")}), &m, sig)
	if err := extractErr(t, late, victim); err == nil {
		t.Error("a file the signed manifest does not list passed")
	}
}

// sameContent reports whether two tar streams hold the same entries.
func sameContent(a, b []byte) bool {
	ra, rb := tar.NewReader(bytes.NewReader(a)), tar.NewReader(bytes.NewReader(b))
	for {
		ha, erra := ra.Next()
		hb, errb := rb.Next()
		if erra != nil || errb != nil {
			return erra != nil && errb != nil
		}
		if ha.Name != hb.Name || ha.Size != hb.Size || ha.Typeflag != hb.Typeflag {
			return false
		}
		da, _ := io.ReadAll(ra)
		db, _ := io.ReadAll(rb)
		if !bytes.Equal(da, db) {
			return false
		}
	}
}

// TestUnsignedArchiveNeedsTrustAnyInstance: a format 1 archive (made before
// signing) is refused unless the caller explicitly accepts unsigned ones.
func TestUnsignedArchiveNeedsTrustAnyInstance(t *testing.T) {
	hb, _ := json.Marshal(Header{Format: FormatUnsigned, Created: "2026-03-03"})
	entries := []entry{{name: HeaderName, data: hb}, {name: DBName, data: []byte("db")}}
	m := manifestOf(FormatUnsigned, testKey.Fingerprint().String(), entries)
	old := tarOf(t, entries, &m, nil)
	if err := extractErr(t, old, trusting()); !errors.Is(err, ErrSignature) {
		t.Fatalf("unsigned archive with an expected instance: %v", err)
	}
	if err := extractErr(t, old, ExtractOptions{AnyInstance: true}); !errors.Is(err, ErrSignature) {
		t.Fatalf("unsigned archive without accepting unsigned ones: %v", err)
	}
	got, err := Extract(context.Background(), bytes.NewReader(old), t.TempDir(), ExtractOptions{AnyInstance: true, Unsigned: true})
	if err != nil || got.Instance != "" {
		t.Fatalf("unsigned archive accepted as such: %+v %v", got, err)
	}
	// A signature entry after an unsigned manifest is out of place.
	if err := extractErr(t, tarOf(t, entries, &m, []byte("sig")), ExtractOptions{AnyInstance: true, Unsigned: true}); !errors.Is(err, ErrArchive) {
		t.Fatalf("signature in a format 1 archive: %v", err)
	}
}

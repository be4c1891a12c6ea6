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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/pgp"
	"postern/mailbox/store"
	"postern/relay/identity"
)

// fakeSnapshot serves a database and blobs from memory.
type fakeSnapshot struct {
	db    []byte
	blobs map[string][]byte
}

func (f fakeSnapshot) DBSize() int64 { return int64(len(f.db)) }
func (f fakeSnapshot) WriteDB(w io.Writer) (int64, error) {
	n, err := w.Write(f.db)
	return int64(n), err
}
func (f fakeSnapshot) Blobs() []store.BlobRef {
	var out []store.BlobRef
	for id, b := range f.blobs {
		out = append(out, store.BlobRef{ID: id, Size: int64(len(b))})
	}
	return out
}
func (f fakeSnapshot) OpenBlob(id string) (io.ReadCloser, error) {
	b, ok := f.blobs[id]
	if !ok {
		return nil, os.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

var day = time.Date(2026, 3, 3, 17, 0, 0, 0, time.UTC)

func sample() fakeSnapshot {
	return fakeSnapshot{db: bytes.Repeat([]byte("database "), 300), blobs: map[string][]byte{
		strings.Repeat("a", 32): []byte("ciphertext one"),
		strings.Repeat("b", 32): bytes.Repeat([]byte{7}, 5000),
	}}
}

// testKey signs the archives of these tests; otherKey is another instance's.
var testKey, otherKey = mustKey(), mustKey()

func mustKey() identity.Key {
	k, err := identity.Generate()
	if err != nil {
		panic(err)
	}
	return k
}

func keyFile(k identity.Key) File {
	b, err := k.Marshal()
	if err != nil {
		panic(err)
	}
	return File{identity.FileName, b}
}

// trusting checks archives against testKey's instance.
func trusting() ExtractOptions { return ExtractOptions{Instance: testKey.Fingerprint()} }

func archive(t testing.TB, sn Snapshot, extra []File) []byte {
	t.Helper()
	return archiveBy(t, testKey, sn, append(extra, keyFile(testKey)))
}

func archiveBy(t testing.TB, k identity.Key, sn Snapshot, extra []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	m, err := Write(context.Background(), &buf, sn, WriteOptions{Extra: extra, Now: day, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	if m.Created != "2026-03-03" {
		t.Fatalf("manifest %+v", m)
	}
	return buf.Bytes()
}

func TestWriteExtract(t *testing.T) {
	sn := sample()
	extra := []File{{"postern.conf", []byte("mail_domain = x\n")}, {"onion/intake.key", []byte("KEY\n")}}
	data := archive(t, sn, extra)
	dir := t.TempDir()
	var seen int64
	o := trusting()
	o.Progress = func(n int64) { seen = n }
	m, err := Extract(context.Background(), bytes.NewReader(data), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if seen != int64(len(data)) {
		t.Fatalf("progress saw %d of %d bytes", seen, len(data))
	}
	if len(m.Files) != 7 || m.Files[0].Path != HeaderName || m.Files[1].Path != DBName || m.Instance != testKey.Fingerprint().String() {
		t.Fatalf("manifest %+v", m)
	}
	for path, want := range map[string][]byte{
		DBName: sn.db, "blobs/" + strings.Repeat("b", 32): sn.blobs[strings.Repeat("b", 32)],
		"postern.conf": extra[0].Data, "onion/intake.key": extra[1].Data,
	} {
		got, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %v", path, err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, path)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", path, fi.Mode())
		}
	}
	// File times say nothing.
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.ModTime.Unix() != 0 {
			t.Fatalf("%s has time %v", h.Name, h.ModTime)
		}
	}
	if _, err := Verify(context.Background(), bytes.NewReader(data), trusting()); err != nil {
		t.Fatal(err)
	}
}

func TestWriteRefuses(t *testing.T) {
	sn := sample()
	for _, bad := range []string{"../x", "/etc/passwd", "blobs/" + strings.Repeat("c", 32), DBName, ManifestName, "a/../b", ""} {
		if _, err := Write(context.Background(), io.Discard, sn, WriteOptions{Extra: []File{{bad, []byte("x")}}, Now: day, Key: testKey}); err == nil {
			t.Errorf("extra file %q accepted", bad)
		}
	}
	short := sample()
	short.blobs[strings.Repeat("a", 32)] = []byte("x")
	lying := fakeSnapshot{db: short.db, blobs: short.blobs}
	if _, err := Write(context.Background(), io.Discard, sizeLie{lying}, WriteOptions{Now: day, Key: testKey}); err == nil {
		t.Error("a blob shorter than its record was archived")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Write(ctx, io.Discard, sn, WriteOptions{Now: day, Key: testKey}); err == nil {
		t.Error("cancelled write succeeded")
	}
	if _, err := Write(context.Background(), io.Discard, sn, WriteOptions{Now: day}); err == nil {
		t.Error("an archive was written without a key to sign it")
	}
}

// sizeLie reports every blob 10 bytes longer than it is.
type sizeLie struct{ fakeSnapshot }

func (s sizeLie) Blobs() []store.BlobRef {
	b := s.fakeSnapshot.Blobs()
	for i := range b {
		b[i].Size += 10
	}
	return b
}

// rebuild writes a tar from entries, with a manifest computed over them
// unless manifest is given.
type entry struct {
	name string
	data []byte
	typ  byte
}

func rebuild(t testing.TB, entries []entry, manifest *Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	m := Manifest{Format: Format, Created: "2026-03-03"}
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Size: int64(len(e.data)), Mode: 0o600}
		if typ == tar.TypeSymlink {
			h.Size, h.Linkname = 0, "/etc/passwd"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write(e.data)
			sum := sha256.Sum256(e.data)
			m.Files = append(m.Files, Entry{Path: e.name, Size: int64(len(e.data)), SHA256: hex.EncodeToString(sum[:])})
		}
	}
	m.Instance = testKey.Fingerprint().String()
	if manifest != nil {
		m = *manifest
	}
	mb, _ := json.Marshal(m)
	tw.WriteHeader(&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Size: int64(len(mb)), Mode: 0o600})
	tw.Write(mb)
	sig := testKey.Sign(SignaturePurpose, mb)
	tw.WriteHeader(&tar.Header{Name: SignatureName, Typeflag: tar.TypeReg, Size: int64(len(sig)), Mode: 0o600})
	tw.Write(sig)
	tw.Close()
	return buf.Bytes()
}

func header() entry {
	b, _ := json.Marshal(Header{Format: Format, Created: "2026-03-03"})
	return entry{name: HeaderName, data: b}
}

func keyEntry() entry {
	f := keyFile(testKey)
	return entry{name: f.Path, data: f.Data}
}

func TestExtractRefuses(t *testing.T) {
	good := []entry{header(), {name: DBName, data: []byte("db")}, {name: "postern.conf", data: []byte("c")}, keyEntry()}
	if _, err := Verify(context.Background(), bytes.NewReader(rebuild(t, good, nil)), trusting()); err != nil {
		t.Fatalf("the well-formed archive is refused: %v", err)
	}
	fp := testKey.Fingerprint().String()
	wrongSum := Manifest{Format: Format, Instance: fp, Files: []Entry{{Path: HeaderName}, {Path: DBName, Size: 2, SHA256: "00"}, {Path: "postern.conf", Size: 1}}}
	oldFormat, _ := json.Marshal(Header{Format: 99})
	cases := map[string][]byte{
		"no header":          rebuild(t, good[1:], nil),
		"header not first":   rebuild(t, []entry{good[1], good[0], good[2], good[3]}, nil),
		"unknown format":     rebuild(t, []entry{{name: HeaderName, data: oldFormat}, good[1]}, nil),
		"no database":        rebuild(t, []entry{header(), good[2], good[3]}, nil),
		"path escape":        rebuild(t, append(good[:2:2], entry{name: "../evil", data: []byte("x")}), nil),
		"absolute path":      rebuild(t, append(good[:2:2], entry{name: "/tmp/evil", data: []byte("x")}), nil),
		"dot path":           rebuild(t, append(good[:2:2], entry{name: "onion/../../x", data: []byte("x")}), nil),
		"symlink":            rebuild(t, append(good[:2:2], entry{name: "link", typ: tar.TypeSymlink}), nil),
		"duplicate":          rebuild(t, append(good[:2:2], good[1]), nil),
		"wrong sum":          rebuild(t, good, &wrongSum),
		"file not in list":   rebuild(t, good, &Manifest{Format: Format, Instance: fp, Files: []Entry{}}),
		"no manifest":        rebuild(t, good, nil)[:2560],
		"file then dir":      rebuild(t, append(good[:2:2], entry{name: "onion", data: []byte("x")}, entry{name: "onion/k", data: []byte("y")}), nil),
		"garbage":            []byte("definitely not a tar archive, nor anything else"),
		"empty":              nil,
		"after the manifest": append(rebuild(t, good, nil)[:len(rebuild(t, good, nil))-1024], rebuild(t, []entry{{name: "late", data: []byte("x")}}, nil)...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Extract(context.Background(), bytes.NewReader(data), dir, trusting())
			if !errors.Is(err, ErrArchive) {
				t.Fatalf("error %v, want ErrArchive", err)
			}
			// Nothing ever lands outside dir.
			if _, err := os.Lstat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
				t.Fatal("a file escaped the restore directory")
			}
		})
	}
}

func TestRestoreTarget(t *testing.T) {
	dir := t.TempDir()
	if err := CheckTarget(filepath.Join(dir, "absent")); err != nil {
		t.Fatal(err)
	}
	if err := CheckTarget(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600)
	if err := CheckTarget(dir); !errors.Is(err, ErrTarget) {
		t.Fatal(err)
	}
	if err := CheckTarget(filepath.Join(dir, "f")); !errors.Is(err, ErrTarget) {
		t.Fatal(err)
	}
	// Restore refuses before reading anything.
	if _, err := Restore(context.Background(), strings.NewReader(""), dir, RestoreOptions{}); !errors.Is(err, ErrTarget) {
		t.Fatal(err)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	seed := sha256.Sum256([]byte("admin"))
	key, err := pgp.DeriveKey(seed[:], "Admin <admin@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	data := archive(t, sample(), nil)
	var enc bytes.Buffer
	w, err := Encrypt(&enc, key)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()

	// The secret key, armored and protected by a passphrase.
	pass := []byte("correct horse battery staple")
	locked, err := pgp.DeriveKey(seed[:], "Admin <admin@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	if err := locked.EncryptPrivateKeys(pass, nil); err != nil {
		t.Fatal(err)
	}
	var sec bytes.Buffer
	aw, _ := armor.Encode(&sec, openpgp.PrivateKeyType, nil)
	if err := locked.SerializePrivateWithoutSigning(aw, nil); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	if _, err := ReadSecretKey(sec.Bytes(), nil); !errors.Is(err, ErrKey) {
		t.Fatalf("protected key without a way to ask: %v", err)
	}
	if _, err := ReadSecretKey(sec.Bytes(), func() ([]byte, error) { return []byte("wrong"), nil }); !errors.Is(err, ErrKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	keys, err := ReadSecretKey(sec.Bytes(), func() ([]byte, error) { return append([]byte(nil), pass...), nil })
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decrypt(bytes.NewReader(enc.Bytes()), keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), r, trusting()); err != nil {
		t.Fatal(err)
	}
	// A public key is not a secret key.
	pub, _ := pgp.Armor(key)
	if _, err := ReadSecretKey(pub, nil); !errors.Is(err, ErrKey) {
		t.Fatalf("public key as secret key: %v", err)
	}
	if _, err := ReadSecretKey([]byte("garbage"), nil); !errors.Is(err, ErrKey) {
		t.Fatalf("garbage key: %v", err)
	}
	// An unencrypted archive given to Decrypt is refused, not misread.
	if _, err := Decrypt(bytes.NewReader(data), keys); !errors.Is(err, ErrArchive) {
		t.Fatalf("plain archive to Decrypt: %v", err)
	}
}

// FuzzExtract: whatever the archive bytes, Extract returns (an error or a
// manifest), never panics and never writes outside its directory.
func FuzzExtract(f *testing.F) {
	good := []entry{header(), {name: DBName, data: []byte("db")}, {name: "onion/intake.key", data: []byte("k")}, keyEntry()}
	f.Add(rebuild(f, good, nil))
	f.Add(archive(f, sample(), []File{{"postern.conf", []byte("x")}}))
	f.Add(rebuild(f, append(good[:1:1], entry{name: "../x", data: []byte("x")}), nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		m, err := Extract(context.Background(), bytes.NewReader(data), dir, trusting())
		if err == nil && len(m.Files) == 0 {
			t.Fatal("success with an empty manifest")
		}
		entries, _ := os.ReadDir(parent)
		if len(entries) != 1 {
			t.Fatalf("files beside the directory: %v", entries)
		}
	})
}

// A forged backup compressed inside its encryption (anyone holding the
// admin's public key can make one) is refused as it expands, before it can
// fill the disk: relay backups are never compressed, so no genuine backup
// decrypts to more than its own size.
func TestDecryptRefusesCompressionBomb(t *testing.T) {
	seed := sha256.Sum256([]byte("admin"))
	key, err := pgp.DeriveKey(seed[:], "Admin <admin@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	w, err := openpgp.Encrypt(&enc, openpgp.EntityList{key}, nil, nil, &packet.Config{
		DefaultCompressionAlgo: packet.CompressionZLIB,
		CompressionConfig:      &packet.CompressionConfig{Level: 9},
	})
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 64 {
		w.Write(zeros)
	}
	w.Close()
	if enc.Len() > 1<<20 {
		t.Fatalf("the forged file is %d bytes: compression did not apply, the test proves nothing", enc.Len())
	}
	r, err := Decrypt(bytes.NewReader(enc.Bytes()), openpgp.EntityList{key})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	if !errors.Is(err, ErrArchive) {
		t.Fatalf("a %d-byte file decrypted to %d bytes without error (%v)", enc.Len(), n, err)
	}
	if n > 4<<20 {
		t.Fatalf("%d bytes came out before the refusal", n)
	}
}

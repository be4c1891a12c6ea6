package admin

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/kdf"
	"postern/relay/config"
	"postern/relay/demokey"
)

// testConfig keeps argon2 cheap: these tests are not about its cost.
func testConfig() config.Config {
	c := config.Default()
	c.SourceKDF = config.KDFParams{Time: 1, MemoryKiB: 8192, Threads: 1}
	c.PasswordKDF = config.KDFParams{Time: 1, MemoryKiB: 8192, Threads: 1}
	c.KDFWorkers = 1
	return c
}

func newInstance(t *testing.T) (*Admin, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "inst")
	a, err := Init(dir, testConfig(), InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, dir
}

func curveKey(t *testing.T) []byte {
	t.Helper()
	k, err := demokey.New("Jane Doe", "jane@example.org")
	if err != nil {
		t.Fatal(err)
	}
	return k.Public
}

// keyWithLifetime makes a Curve25519 key that expires after d.
func keyWithLifetime(t *testing.T, d time.Duration) []byte {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519,
		DefaultHash: crypto.SHA256, KeyLifetimeSecs: uint32(d.Seconds())}
	e, err := openpgp.NewEntity("Exp", "", "exp@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, _ := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.Bytes()
}

func TestInitLayoutAndRefusals(t *testing.T) {
	a, dir := newInstance(t)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v %v", fi.Mode(), err)
	}
	fi, err = os.Stat(filepath.Join(dir, config.FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %v %v", fi, err)
	}
	if a.IsDemo() {
		t.Fatal("plain init marked demo")
	}
	a.Close()
	if _, err := Init(dir, testConfig(), InitOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second init: %v", err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "x"), []byte("x"), 0o600)
	if _, err := Init(other, testConfig(), InitOptions{}); !errors.Is(err, ErrInstance) {
		t.Fatalf("init non-empty dir: %v", err)
	}
	if entries, _ := os.ReadDir(other); len(entries) != 1 {
		t.Fatalf("init changed a non-empty dir: %v", entries)
	}
}

func TestOpenRefusesChangedSourceKDF(t *testing.T) {
	a, dir := newInstance(t)
	a.Close()
	path := filepath.Join(dir, config.FileName)
	b, _ := os.ReadFile(path)
	b = bytes.Replace(b, []byte("source_kdf_time = 1"), []byte("source_kdf_time = 2"), 1)
	os.WriteFile(path, b, 0o600)
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrInstance) || !strings.Contains(err.Error(), "differ from those this instance was created with") {
		t.Fatalf("err = %v", err)
	}
	// Password parameters may change freely.
	b = bytes.Replace(b, []byte("source_kdf_time = 2"), []byte("source_kdf_time = 1"), 1)
	b = bytes.Replace(b, []byte("password_kdf_time = 1"), []byte("password_kdf_time = 2"), 1)
	os.WriteFile(path, b, 0o600)
	a2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a2.Close()
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "nope"), Options{}); !errors.Is(err, ErrInstance) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing dir: %v", err)
	}
	if _, err := Open(t.TempDir(), Options{}); !errors.Is(err, ErrInstance) || !strings.Contains(err.Error(), "not a Postern instance") {
		t.Fatalf("empty dir: %v", err)
	}
	_, dir := newInstance(t) // still open: holds the lock
	_, err := Open(dir, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("locked: %v", err)
	}
}

func TestJournalistLifecycle(t *testing.T) {
	ctx := context.Background()
	a, _ := newInstance(t)
	added, err := a.JournalistAdd(ctx, "jane", curveKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(added.Passphrase)); n != PassphraseWords {
		t.Fatalf("passphrase has %d words", n)
	}
	if len(added.Journalist.Fingerprint) != 40 || added.Journalist.Created == "" || added.Journalist.KeyExpires != "" {
		t.Fatalf("info %+v", added.Journalist)
	}
	// The onion private key returned belongs to the public key stored.
	raw, err := onionB32.DecodeString(added.OnionAuthPrivate)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := onionB32.EncodeToString(priv.PublicKey().Bytes()); got != added.Journalist.OnionAuthPublic {
		t.Fatalf("onion public %s does not match private half (%s)", added.Journalist.OnionAuthPublic, got)
	}
	j, err := a.Store().Journalist("jane")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(j.PasswordHash, added.Passphrase) || !strings.HasPrefix(j.PasswordHash, "$argon2id$") {
		t.Fatalf("stored hash %q", j.PasswordHash)
	}
	pool := kdf.NewPool(kdf.PoolOptions{Workers: 1})
	if ok, err := pool.VerifyPassword(ctx, added.Passphrase, j.PasswordHash); !ok || err != nil {
		t.Fatalf("passphrase does not verify: %v %v", ok, err)
	}

	if _, err := a.JournalistAdd(ctx, "jane", curveKey(t)); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, bad := range []string{"", "Jane", "1jane", "ja ne", "jane/..", strings.Repeat("a", 33), "jäne"} {
		if _, err := a.JournalistAdd(ctx, bad, curveKey(t)); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	k, _ := demokey.New("S", "s@example.org")
	for name, key := range map[string][]byte{"empty": nil, "garbage": []byte("hello"), "secret": k.Secret} {
		_, err := a.JournalistAdd(ctx, "bob", key)
		if !errors.Is(err, ErrKey) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s key: %v", name, err)
		}
	}

	pw, err := a.JournalistPasswd(ctx, "jane")
	if err != nil {
		t.Fatal(err)
	}
	j2, _ := a.Store().Journalist("jane")
	if j2.PasswordHash == j.PasswordHash || pw.Passphrase == added.Passphrase {
		t.Fatal("passwd did not change the hash")
	}
	if ok, _ := pool.VerifyPassword(ctx, added.Passphrase, j2.PasswordHash); ok {
		t.Fatal("old passphrase still verifies")
	}

	info, err := a.JournalistSetKey(ctx, "jane", keyWithLifetime(t, 10*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if info.Fingerprint == added.Journalist.Fingerprint || info.KeyExpires == "" {
		t.Fatalf("set-key: %+v", info)
	}
	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Journalists != 1 || len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "journalist jane: key") {
		t.Fatalf("status %+v", st)
	}

	if _, err := a.JournalistAdd(ctx, "bob", curveKey(t)); err != nil {
		t.Fatal(err)
	}
	list, err := a.JournalistList(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "bob" || list[1].Name != "jane" {
		t.Fatalf("list %+v %v", list, err)
	}
	if err := a.JournalistRemove(ctx, "jane"); err != nil {
		t.Fatal(err)
	}
	if err := a.JournalistRemove(ctx, "jane"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := a.JournalistPasswd(ctx, "jane"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("passwd of removed: %v", err)
	}
	if _, err := a.JournalistSetKey(ctx, "jane", curveKey(t)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("set-key of removed: %v", err)
	}
}

func TestStatusEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	a, err := Init(dir, testConfig(), InitOptions{Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st, err := a.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Demo || st.Version != Version || st.Schema < 1 || st.Journalists != 0 || len(st.Warnings) != 2 {
		t.Fatalf("%+v", st)
	}
}

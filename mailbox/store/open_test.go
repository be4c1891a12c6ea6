package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestInitCreatesPrivateInstance(t *testing.T) {
	s, dir := newTestStore(t)
	for path, want := range map[string]os.FileMode{
		dir:                         0o700,
		filepath.Join(dir, blobDir): 0o700,
		filepath.Join(dir, dbName):  0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	salt := s.Salt()
	if len(salt) != 32 || slices.Equal(salt, make([]byte, 32)) {
		t.Fatalf("salt %x", salt)
	}
	salt[0] ^= 0xff
	if slices.Equal(salt, s.Salt()) {
		t.Fatal("Salt returned its internal slice")
	}
	version, migs := s.Schema()
	if version != schemaVersion || len(migs) != len(migrations) || migs[0] != migrations[0].name {
		t.Fatalf("schema %d %v", version, migs)
	}
	if s.Dir() != dir {
		t.Fatalf("Dir %q", s.Dir())
	}

	s2 := reopen(t, s)
	if !slices.Equal(s2.Salt(), s.Salt()) {
		t.Fatal("salt changed across Open")
	}
	s2.Close()
	if _, err := Init(dir, Options{}); !errors.Is(err, ErrInstanceExists) {
		t.Fatalf("Init over an instance: %v", err)
	}
}

func TestInitRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, Options{}); !errors.Is(err, ErrNotInstance) {
		t.Fatalf("Init in a non-empty dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, dbName)); err == nil {
		t.Fatal("Init left a database in a foreign directory")
	}
	// An existing empty directory is fine, and gets 0700.
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Init(empty, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, _ := os.Stat(empty)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
}

func TestOpenRefusesNonInstance(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "absent"), t.TempDir()} {
		if _, err := Open(dir, Options{}); !errors.Is(err, ErrNotInstance) {
			t.Errorf("Open(%s): %v", dir, err)
		}
	}
}

func TestOpenTightensPermissions(t *testing.T) {
	s, dir := newTestStore(t)
	s.Close()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, dbName), 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, dbName): 0o600} {
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v", path, fi.Mode().Perm())
		}
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	s, dir := newTestStore(t)
	start := time.Now()
	_, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Minute {
		t.Fatalf("second Open blocked for %v", elapsed)
	}
	if err.Error() != ErrLocked.Error() || !strings.Contains(err.Error(), "relay serve") {
		t.Fatalf("message %q", err)
	}
	// After Close the lock is free.
	s.Close()
	s2, err := Open(dir, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func TestMigrationsRunOnceAndAreRecorded(t *testing.T) {
	s, dir := newTestStore(t)
	s.Close()
	runs := 0
	migs := append(slices.Clone(migrations), migration{name: "9999-test", run: func(tx *bolt.Tx) error {
		runs++
		return tx.Bucket(bSettings).Put([]byte("migrated"), []byte("yes"))
	}})
	for i := 0; i < 2; i++ {
		s, err := openWith(dir, testOptions(nil), migs)
		if err != nil {
			t.Fatal(err)
		}
		_, done := s.Schema()
		if !slices.Contains(done, "9999-test") {
			t.Fatalf("migration not recorded: %v", done)
		}
		if v, err := s.GetMeta("migrated"); err != nil || string(v) != "yes" {
			t.Fatalf("migration effect: %q %v", v, err)
		}
		s.Close()
	}
	if runs != 1 {
		t.Fatalf("migration ran %d times", runs)
	}
	// A failing migration aborts Open and records nothing.
	bad := append(slices.Clone(migs), migration{name: "9999-bad", run: func(*bolt.Tx) error { return errors.New("boom") }})
	if _, err := openWith(dir, testOptions(nil), bad); err == nil {
		t.Fatal("Open with a failing migration succeeded")
	}
	s2, err := openWith(dir, testOptions(nil), migs)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, done := s2.Schema(); slices.Contains(done, "9999-bad") {
		t.Fatal("failed migration recorded")
	}
}

func TestMeta(t *testing.T) {
	s, _ := newTestStore(t)
	if _, err := s.GetMeta("domain"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing meta: %v", err)
	}
	if err := s.SetMeta("domain", []byte("example.onion")); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	if v, err := s.GetMeta("domain"); err != nil || string(v) != "example.onion" {
		t.Fatalf("%q %v", v, err)
	}
	if err := s.SetMeta("domain", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMeta("domain"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted meta: %v", err)
	}
}

func TestClosedStoreErrors(t *testing.T) {
	s, _ := newTestStore(t)
	s.Close()
	if _, err := s.Journalists(); err == nil {
		t.Fatal("read after Close succeeded")
	}
	if err := s.SetMeta("a", []byte("b")); err == nil {
		t.Fatal("write after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPanicInTransactionReleasesLocks(t *testing.T) {
	s, _ := newTestStore(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		s.update("panic", func(*bolt.Tx, *txState) error { panic("boom") })
	}()
	if err := s.SetMeta("still", []byte("works")); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
}

// Opening an up-to-date instance reads the database and writes nothing, so a
// command that opens it and then fails changes nothing on disk.
func TestOpenWritesNothing(t *testing.T) {
	dir := t.TempDir() + "/d"
	s, err := Init(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, err := os.ReadFile(dir + "/" + dbName)
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(dir + "/" + dbName)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("Open rewrote an up-to-date database")
	}
}

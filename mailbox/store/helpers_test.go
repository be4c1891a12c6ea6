package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// afternoon is a time well inside a day, in a zone east of UTC, so truncation to the
// UTC day is visible.
var afternoon = time.Date(2026, 3, 4, 1, 16, 17, 123, time.FixedZone("east", 5*3600)) // 2026-03-03 20:16 UTC

func testOptions(c *clock) Options {
	o := Options{LockTimeout: 200 * time.Millisecond}
	if c != nil {
		o.Now = c.Now
	}
	return o
}

func newTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Init(dir, testOptions(&clock{t: afternoon}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Dir(), testOptions(&clock{t: afternoon}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func putBlob(t testing.TB, s *Store, data []byte) BlobRef {
	t.Helper()
	w, err := s.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	ref, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func addJournalist(t testing.TB, s *Store, name string) {
	t.Helper()
	if err := s.AddJournalist(Journalist{Name: name, PasswordHash: "$argon2id$x", Fingerprint: "F" + name}); err != nil {
		t.Fatal(err)
	}
}

func addSource(t testing.TB, s *Store, designation string) Source {
	t.Helper()
	src := Source{
		ID:          randomBytes(t, 32),
		Designation: designation,
		Address:     strings.ReplaceAll(designation, " ", ".") + "@Example.Onion",
		PublicKey:   []byte("reply key of " + designation),
		ThreadID:    "<root-" + strings.ReplaceAll(designation, " ", "-") + "@example.onion>",
	}
	if err := s.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	return src
}

func mustCheck(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func blobExists(t testing.TB, s *Store, id string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(s.Dir(), blobDir, id))
	if err == nil {
		return true
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return false
}

// blobFiles lists the files in blobs/ but for spares (spare.go).
func blobFiles(t testing.TB, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Dir(), blobDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !s.Spare(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names
}

func uids(msgs []Message) []uint32 {
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

func messages(t testing.TB, s *Store, j, mailbox string) []Message {
	t.Helper()
	msgs, err := s.Messages(j, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// scanDataDir reports whether any file under dir contains needle.
func scanDataDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

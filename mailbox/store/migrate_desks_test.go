package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/delivery"
	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
)

// fixtureKey re-derives a throwaway key of testdata/predesks (see
// testdata/mkpredesks): the fixture holds no secret.
func fixtureKey(t *testing.T, label, uid string) *openpgp.Entity {
	t.Helper()
	seed := sha256.Sum256([]byte("THROWAWAY TEST KEY " + label))
	e, err := pgp.DeriveKey(seed[:], uid)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// copyTree copies the fixture, so the migration writes a copy.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An instance made before desks opens with one desk, newsroom, holding every
// journalist; it serves the same mail; and a new submission still reaches
// everyone, as before.
func TestMigrationOfAnInstanceMadeBeforeDesks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	copyTree(t, "testdata/predesks/data", dir)
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, done := st.Schema(); !slices.Contains(done, "0002-desks") {
		t.Fatalf("migrations done: %v", done)
	}
	desks, err := st.Desks()
	if err != nil {
		t.Fatal(err)
	}
	if len(desks) != 1 || desks[0].Slug != store.DefaultDesk || !slices.Equal(desks[0].Journalists, []string{"alice", "bob"}) || desks[0].Hidden {
		t.Fatalf("desks after migration: %+v", desks)
	}
	src, err := st.SourceByDesignation("quiet harbor")
	if err != nil {
		t.Fatal(err)
	}
	if src.Desk != store.DefaultDesk {
		t.Errorf("source desk = %q", src.Desk)
	}
	if err := st.Check(); err != nil {
		t.Errorf("check: %v", err)
	}

	raw, err := os.ReadFile("testdata/predesks/inboxes.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]store.Message
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*openpgp.Entity{}
	for _, n := range []string{"alice", "bob"} {
		keys[n] = fixtureKey(t, "journalist "+n, n+" <"+n+"@fixture.example>")
		got, err := st.Messages(n, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i].Meta = nil
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want[n])
		if !bytes.Equal(g, w) {
			t.Errorf("%s INBOX after migration:\n got %s\nwant %s", n, g, w)
		}
		f, err := st.OpenBlob(got[0].Blob.ID)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := pgpmime.Decrypt(f, openpgp.EntityList{keys[n]})
		f.Close()
		if err != nil || !strings.Contains(dec.Text, "first submission before desks") {
			t.Errorf("%s cannot read the old submission: %v", n, err)
		}
	}

	// A submission after the migration goes to both, as before desks.
	d := delivery.New(delivery.Options{Store: st, Domain: "fixture.example"})
	ctx := context.Background()
	tx, err := d.Start(ctx, delivery.Submission{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Text("after the migration"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"alice", "bob"} {
		got, _ := st.Messages(n, "INBOX")
		if len(got) != len(want[n])+1 {
			t.Errorf("%s has %d messages after a new submission, want %d", n, len(got), len(want[n])+1)
		}
	}
	// Opening again runs nothing twice.
	st.Close()
	st2, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if ds, _ := st2.Desks(); len(ds) != 1 {
		t.Errorf("desks after reopening: %+v", ds)
	}
}

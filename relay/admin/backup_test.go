package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postern/mailbox/kdf"
	"postern/mailbox/store"
	"postern/relay/backup"
)

// adminKey is the admin's backup key pair.
func adminKey(t testing.TB, label string) *openpgp.Entity {
	return derived(t, "admin "+label, "Admin <admin@"+testDomain+">")
}

// takeBackup runs Admin.Backup into an encrypted buffer.
func takeBackup(t *testing.T, a *Admin, to *openpgp.Entity) []byte {
	t.Helper()
	return takeBackupVia(t, a, to, nil)
}

// takeBackupVia is takeBackup with the writer Admin.Backup writes to wrapped
// by wrap (when not nil), so a test can act while the backup is in progress.
func takeBackupVia(t *testing.T, a *Admin, to *openpgp.Entity, wrap func(io.Writer) io.Writer) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := backup.Encrypt(&buf, to)
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer = enc
	if wrap != nil {
		w = wrap(enc)
	}
	var plan backup.Plan
	if err := a.Backup(context.Background(), w, func(p backup.Plan) { plan = p }); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if plan.Files < 3 || plan.Bytes <= 0 {
		t.Fatalf("plan %+v", plan)
	}
	return buf.Bytes()
}

// restoreChecked restores data into a new directory, opens it, and fails t
// unless its store checks clean; the instance closes when t ends.
func restoreChecked(t *testing.T, from *Admin, data []byte, key *openpgp.Entity) (string, *Admin) {
	t.Helper()
	target := filepath.Join(t.TempDir(), "restored")
	if err := restore(from, data, key, target); err != nil {
		t.Fatal(err)
	}
	b, err := Open(target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Store().Check(); err != nil {
		t.Fatalf("restored store: %v", err)
	}
	return target, b
}

// restore restores a backup of from (the instance whose signature it must
// carry) into target.
func restore(from *Admin, data []byte, key *openpgp.Entity, target string) error {
	r, err := backup.Decrypt(bytes.NewReader(data), openpgp.EntityList{key})
	if err != nil {
		return err
	}
	_, err = backup.Restore(context.Background(), r, target, restoreOptions(from))
	return err
}

// restoreOptions trust from's signature only.
func restoreOptions(from *Admin) backup.RestoreOptions {
	return backup.RestoreOptions{ExtractOptions: backup.ExtractOptions{Instance: from.id.Fingerprint()}, Check: CheckRestored}
}

// mailView is what a journalist's client sees of every mailbox, through the
// store API: UIDVALIDITY, UIDNEXT, and each message's UID, flags and bytes.
func mailView(t *testing.T, st *store.Store) string {
	t.Helper()
	var b bytes.Buffer
	js, err := st.Journalists()
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		fmt.Fprintf(&b, "journalist %s hash=%s key=%x\n", j.Name, j.PasswordHash, j.PublicKey)
		mbs, err := st.Mailboxes(j.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range mbs {
			fmt.Fprintf(&b, "  %s validity=%d next=%d count=%d use=%s sub=%v\n", mb.Name, mb.UIDValidity, mb.UIDNext, mb.Count, mb.SpecialUse, mb.Subscribed)
			msgs, err := st.Messages(j.Name, mb.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				f, err := st.OpenBlob(m.Blob.ID)
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(f)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "    uid=%d flags=%v date=%s source=%x bytes=%x\n", m.UID, m.Flags, m.Date.Format("2006-01-02"), m.SourceID, sha(data))
			}
		}
	}
	return b.String()
}

func sha(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:8]
}

// imapView logs in over IMAP and lists, per mailbox, UIDVALIDITY, UIDNEXT and
// each message's UID and flags.
func imapView(t *testing.T, st *store.Store, pool *kdf.Pool, name, pass string) string {
	t.Helper()
	c, err := imapclient.DialInsecure(startIMAP(t, st, pool), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(name, pass).Wait(); err != nil {
		t.Fatalf("IMAP login %s: %v", name, err)
	}
	var b bytes.Buffer
	for _, box := range []string{"INBOX", "Archive"} {
		sel, err := c.Select(box, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s validity=%d next=%d exists=%d\n", box, sel.UIDValidity, sel.UIDNext, sel.NumMessages)
		if sel.NumMessages == 0 {
			continue
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			flags := slices.Clone(m.Flags)
			slices.Sort(flags)
			fmt.Fprintf(&b, "  uid=%d flags=%v\n", m.UID, flags)
		}
	}
	c.Logout().Wait()
	return b.String()
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	f := newFixture(t, "ana", "bob")
	st := f.a.Store()
	s1, s2 := f.newSource(t), f.newSource(t)
	f.submit(t, s1, "first submission")
	f.submit(t, s2, "another source")
	f.submit(t, s1, "second submission")
	f.reply(t, s1, "we read you")
	f.reply(t, s1, "tell us more")
	if err := st.SetFlags("ana", "INBOX", []uint32{1, 3}, store.FlagAdd, []string{`\Seen`, "$Important"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetFlags("bob", "INBOX", []uint32{2}, store.FlagAdd, []string{`\Flagged`}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Move("ana", "INBOX", []uint32{2}, "Archive"); err != nil {
		t.Fatal(err)
	}
	key := adminKey(t, "a")
	data := takeBackup(t, f.a, key)
	if bytes.Contains(data, []byte(s1.rec.Designation)) || bytes.Contains(data, []byte("SQLite")) {
		t.Fatal("the backup file is not encrypted")
	}
	wantMail := mailView(t, st)
	wantIMAP := map[string]string{}
	for _, j := range []string{"ana", "bob"} {
		wantIMAP[j] = imapView(t, st, f.a.Pool(), j, f.pass[j])
	}

	target, b := restoreChecked(t, f.a, data, key)
	rst := b.Store()
	if !bytes.Equal(rst.Salt(), st.Salt()) {
		t.Fatal("salt differs")
	}
	if got := mailView(t, rst); got != wantMail {
		t.Fatalf("restored mail differs\n got:\n%s\nwant:\n%s", got, wantMail)
	}
	for _, j := range []string{"ana", "bob"} {
		if got := imapView(t, rst, b.Pool(), j, f.pass[j]); got != wantIMAP[j] {
			t.Fatalf("IMAP view of %s differs\n got:\n%s\nwant:\n%s", j, got, wantIMAP[j])
		}
	}
	// The source logs in with the codename and reads the replies.
	src, texts := readReplies(t, rst, b.Pool(), kdf.Params(b.Config().SourceKDF), s1.codename)
	if src.Designation != s1.rec.Designation || !slices.Equal(texts, []string{"we read you", "tell us more"}) {
		t.Fatalf("codename login after restore: %s %q", src.Designation, texts)
	}
	// Same onion keys (same addresses) and settings.
	for _, name := range []string{"onion/intake.key", "onion/journalist.key", "postern.conf"} {
		want, _ := os.ReadFile(filepath.Join(f.dir, name))
		got, err := os.ReadFile(filepath.Join(target, name))
		if err != nil || !bytes.Equal(got, want) || len(want) == 0 {
			t.Fatalf("%s not restored as it was: %v", name, err)
		}
		if fi, _ := os.Stat(filepath.Join(target, name)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", name, fi.Mode())
		}
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v", fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(target, backup.HeaderName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the archive header was left in the data directory")
	}
	// A second restore into the now full directory is refused.
	if err := restore(f.a, data, key, target); !errors.Is(err, backup.ErrTarget) {
		t.Fatalf("restore over an instance: %v", err)
	}
}

// TestRestoreRefusesBadBackups: corrupt, truncated, wrongly keyed and
// manipulated backups are refused, and the target stays absent (or empty),
// with no temp directory left next to it.
func TestRestoreRefusesBadBackups(t *testing.T) {
	f := newFixture(t, "ana")
	s := f.newSource(t)
	f.submit(t, s, "x")
	f.reply(t, s, "y")
	key := adminKey(t, "a")
	data := takeBackup(t, f.a, key)
	var plain bytes.Buffer
	if err := f.a.Backup(context.Background(), &plain, nil); err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, at int) []byte {
		c := slices.Clone(b)
		c[at] ^= 0x40
		return c
	}
	cases := []struct {
		name  string
		data  []byte
		key   *openpgp.Entity
		plain bool
		want  error
	}{
		{"byte flipped in the middle", flip(data, len(data)/2), key, false, backup.ErrArchive},
		{"byte flipped near the end", flip(data, len(data)-30), key, false, backup.ErrArchive},
		{"byte flipped in the header", flip(data, 40), key, false, nil},
		{"truncated to half", data[:len(data)/2], key, false, backup.ErrArchive},
		{"truncated by one byte", data[:len(data)-1], key, false, backup.ErrArchive},
		{"empty", nil, key, false, backup.ErrArchive},
		{"wrong key", data, adminKey(t, "someone else"), false, backup.ErrKey},
		{"plain archive, byte flipped", flip(plain.Bytes(), plain.Len()/2), nil, true, backup.ErrArchive},
		{"plain archive, truncated", plain.Bytes()[:plain.Len()-2048], nil, true, backup.ErrArchive},
		{"plain archive, not an archive", []byte("hello, this is not a tar stream at all"), nil, true, backup.ErrArchive},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			target := filepath.Join(parent, "restored")
			var err error
			if c.plain {
				_, err = backup.Restore(context.Background(), bytes.NewReader(c.data), target, restoreOptions(f.a))
			} else {
				err = restore(f.a, c.data, c.key, target)
			}
			if err == nil {
				t.Fatal("bad backup restored")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			entries, _ := os.ReadDir(parent)
			if len(entries) != 0 {
				t.Fatalf("left behind: %v (error: %v)", entries, err)
			}
			// An empty target directory stays empty.
			if err := os.Mkdir(target, 0o700); err != nil {
				t.Fatal(err)
			}
			if c.plain {
				_, err = backup.Restore(context.Background(), bytes.NewReader(c.data), target, restoreOptions(f.a))
			} else {
				err = restore(f.a, c.data, c.key, target)
			}
			if err == nil {
				t.Fatal("bad backup restored into an empty directory")
			}
			if entries, _ := os.ReadDir(target); len(entries) != 0 {
				t.Fatalf("target not empty: %v", entries)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Fatalf("left behind: %v", entries)
			}
		})
	}
	// The good one restores (the cases above fail for their damage).
	if err := restore(f.a, data, key, filepath.Join(t.TempDir(), "ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(context.Background(), bytes.NewReader(plain.Bytes()), filepath.Join(t.TempDir(), "ok"), restoreOptions(f.a)); err != nil {
		t.Fatal(err)
	}
}

func mustMessages(t *testing.T, st *store.Store, j, box string) []store.Message {
	t.Helper()
	m, err := st.Messages(j, box)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBackupFileList: the archive holds the database, the blobs, the onion
// keys and addresses, postern.conf and an archive key kept in the data
// directory; nothing else (not tor's state, the socket or stray files).
func TestBackupFileList(t *testing.T) {
	f := newFixture(t, "ana")
	src := f.newSource(t)
	f.submit(t, src, "x")
	f.a.cfg.ArchiveKeyFile = "keys/archive.asc"
	for name, data := range map[string]string{
		"keys/archive.asc":          "archive key",
		"onion/journalist.hostname": "abc.onion\n",
		"tor/cached-certs":          "tor state",
		"notes.txt":                 "stray",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(f.dir, name)), 0o700)
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := f.a.Backup(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	m, err := backup.Verify(context.Background(), &buf, backup.ExtractOptions{Instance: f.a.id.Fingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range m.Files {
		if filepath.Dir(e.Path) == "blobs" {
			e.Path = "blobs/*"
		}
		got = append(got, e.Path)
	}
	want := []string{backup.HeaderName, backup.DBName, "blobs/*", "instance.key", "keys/archive.asc", "onion/intake.key",
		"onion/journalist.hostname", "onion/journalist.key", "postern.conf"}
	if !slices.Equal(got, want) {
		t.Fatalf("archive files\n got %v\nwant %v", got, want)
	}
	// Outside the data directory, the archive key is not carried (and a
	// missing postern.conf stops the backup).
	f.a.cfg.ArchiveKeyFile = "/etc/postern/archive.asc"
	if err := f.a.Backup(context.Background(), io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(f.dir, "postern.conf"))
	if err := f.a.Backup(context.Background(), io.Discard, nil); !errors.Is(err, ErrInstance) {
		t.Fatalf("backup without postern.conf: %v", err)
	}
}

// A backup carries nothing deleted before it began: bbolt's freed pages keep
// deleted records' bytes until a compaction, so Backup compacts first.
func TestBackupHoldsNoDeletedRecords(t *testing.T) {
	f := newFixture(t, "ana")
	s := f.newSource(t)
	f.submit(t, s, "x")
	ref := f.reply(t, s, "to be deleted")
	replies, err := f.a.Store().Replies(s.rec.ID)
	if err != nil || len(replies) != 1 {
		t.Fatalf("replies: %v %v", replies, err)
	}
	if err := f.a.Store().DeleteReply(s.rec.ID, replies[0].ID); err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if err := f.a.Backup(context.Background(), &plain, nil); err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{ref.ID, replies[0].ID} {
		if bytes.Contains(plain.Bytes(), []byte(needle)) {
			t.Errorf("the backup holds %q of a reply deleted before it began", needle)
		}
	}
}

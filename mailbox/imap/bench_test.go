package imapd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"postern/tools/dovecot"
)

// BenchmarkMbsyncVsDovecot syncs the same 10,000 messages of the realistic
// size mix (tools/corpus, about 1.4 GB, each its own blob) with mbsync from
// Postern and from Dovecot (started on loopback with its own config),
// checks that every message arrived, and reports the ratio Postern ÷
// Dovecot. Run it with
//
//	go test -run '^$' -bench MbsyncVsDovecot -benchtime 1x ./mailbox/imap/
func BenchmarkMbsyncVsDovecot(b *testing.B) {
	mbsync := needTool(b, "mbsync")
	dovecotBin := needTool(b, "dovecot")
	const n = 10000

	e := newEnv(b, "alice")
	fillInbox(b, e, n)
	msgs, err := e.st.Messages("alice", "INBOX")
	if err != nil {
		b.Fatal(err)
	}

	srv := startDovecot(b, dovecotBin)
	// Fill Dovecot's Maildir with the very same mails; it indexes on
	// first access.
	md := filepath.Join(srv.Home, "alice", "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for i, m := range msgs {
		if err := copyBlob(e, m.Blob.ID, filepath.Join(md, "cur", fmt.Sprintf("%d.M%dP1.bench:2,", 1700000000+i, i))); err != nil {
			b.Fatal(err)
		}
	}
	srv.Chown()
	dv := &env{addr: srv.Addr, pass: map[string]string{"alice": dovecot.Password}}

	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		got := countMaildir(b, mbsyncInbox(b, mbsync, e, "alice"))
		ours += time.Since(start)
		if got != n {
			b.Fatalf("mbsync got %d messages from Postern, want %d", got, n)
		}
		start = time.Now()
		got = countMaildir(b, mbsyncInbox(b, mbsync, dv, "alice"))
		theirs += time.Since(start)
		if got != n {
			b.Fatalf("mbsync got %d messages from Dovecot, want %d", got, n)
		}
	}
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "postern-ms/sync")
	b.ReportMetric(float64(theirs.Milliseconds())/float64(b.N), "dovecot-ms/sync")
	b.ReportMetric(float64(ours)/float64(theirs), "postern/dovecot")
}

// copyBlob copies a stored blob to path.
func copyBlob(e *env, id, path string) error {
	f, err := e.st.OpenBlob(id)
	if err != nil {
		return err
	}
	defer f.Close()
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, f); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// countMaildir counts the messages mbsync wrote into maildir's INBOX.
func countMaildir(t testing.TB, maildir string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"new", "cur"} {
		es, err := os.ReadDir(filepath.Join(maildir, "INBOX", sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		n += len(es)
	}
	return n
}

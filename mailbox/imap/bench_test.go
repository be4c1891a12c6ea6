package imapd

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkMbsyncVsDovecot syncs the same 10,000 messages with mbsync from
// Postern and from Dovecot (started on loopback with its own config) and
// reports the ratio Postern ÷ Dovecot. Run it with
//
//	go test -run '^$' -bench MbsyncVsDovecot ./mailbox/imap/
func BenchmarkMbsyncVsDovecot(b *testing.B) {
	mbsync := needTool(b, "mbsync")
	dovecot := needTool(b, "dovecot")
	const n = 10000
	msg := sampleMessage("bench", 2000)

	e := newEnv(b, "alice")
	fillInbox(b, e, n)

	addr, home := startDovecot(b, dovecot)
	// Fill Dovecot's Maildir directly; it indexes on first access.
	md := filepath.Join(home, "alice", "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		p := filepath.Join(md, "cur", fmt.Sprintf("%d.M%dP1.bench:2,", 1700000000+i, i))
		if err := os.WriteFile(p, []byte(msg), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	chownTree(b, filepath.Join(home, "alice"))
	dv := &env{addr: addr, pass: map[string]string{"alice": "secret"}}

	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		mbsyncInbox(b, mbsync, e, "alice")
		ours += time.Since(start)
		start = time.Now()
		mbsyncInbox(b, mbsync, dv, "alice")
		theirs += time.Since(start)
	}
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "postern-ms/sync")
	b.ReportMetric(float64(theirs.Milliseconds())/float64(b.N), "dovecot-ms/sync")
	b.ReportMetric(float64(ours)/float64(theirs), "postern/dovecot")
}

// chownTree gives the mail user (see startDovecot) the files made as root.
func chownTree(b testing.TB, dir string) {
	if os.Getuid() != 0 {
		return
	}
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, 65534, 65534)
		}
		return nil
	})
}

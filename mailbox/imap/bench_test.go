package imapd

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"postern/tools/dovecot"
)

// BenchmarkMbsyncVsDovecot syncs the same 10,000 messages with mbsync from
// Postern and from Dovecot (started on loopback with its own config) and
// reports the ratio Postern ÷ Dovecot. Run it with
//
//	go test -run '^$' -bench MbsyncVsDovecot ./mailbox/imap/
func BenchmarkMbsyncVsDovecot(b *testing.B) {
	mbsync := needTool(b, "mbsync")
	dovecotBin := needTool(b, "dovecot")
	const n = 10000
	msg := sampleMessage("bench", 2000)

	e := newEnv(b, "alice")
	fillInbox(b, e, n)

	srv := startDovecot(b, dovecotBin)
	// Fill Dovecot's Maildir directly; it indexes on first access.
	md := filepath.Join(srv.Home, "alice", "Maildir")
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
	srv.Chown()
	dv := &env{addr: srv.Addr, pass: map[string]string{"alice": dovecot.Password}}

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

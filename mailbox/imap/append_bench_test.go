package imapd

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"postern/tools/corpus"
	"postern/tools/dovecot"
)

// realisticSizes returns n message sizes of the mix newsroom mail has
// (tools/corpus, shared with tools/bench): 85% 2–20 KiB, 14% 100 KiB–1 MiB,
// 1% 5 MiB, shuffled with a fixed seed.
func realisticSizes(n int) []int { return corpus.Sizes(n) }

// BenchmarkAppendVsDovecot APPENDs the same realistic mix of plaintext
// messages one after the other on one connection to Postern (which seals
// each to the journalist's key and fsyncs it before OK) and to Dovecot,
// and reports messages per second for each and the ratio. Run it with
//
//	go test -run '^$' -bench AppendVsDovecot -benchtime 1x ./mailbox/imap/
func BenchmarkAppendVsDovecot(b *testing.B) {
	dovecotBin := needTool(b, "dovecot")
	const n = 1000
	sizes := realisticSizes(n)
	msgs := make([][]byte, n)
	for i, s := range sizes {
		msgs[i] = corpus.PlainMessage(i, s)
	}
	e := newEnv(b, "alice")
	srv := startDovecot(b, dovecotBin)
	var ours, theirs time.Duration
	b.ResetTimer()
	for range b.N {
		ours += appendAll(b, e.addr, "alice", e.pass["alice"], msgs)
		theirs += appendAll(b, srv.Addr, "alice", dovecot.Password, msgs)
	}
	per := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(per(ours), "postern-msg/s")
	b.ReportMetric(per(theirs), "dovecot-msg/s")
	b.ReportMetric(per(ours)/per(theirs), "postern/dovecot")
}

// appendAll APPENDs msgs to INBOX, each after the previous one's OK.
func appendAll(b *testing.B, addr, user, pass string, msgs [][]byte) time.Duration {
	b.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, m := range msgs {
		a := c.Append("INBOX", int64(len(m)), nil)
		if _, err := a.Write(m); err != nil {
			b.Fatal(err)
		}
		if err := a.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

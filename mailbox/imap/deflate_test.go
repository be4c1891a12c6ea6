package imapd

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Compressed sessions writing at once share the server's compressors, one
// response at a time each: every session's stream stays whole (each
// message arrives intact, in a realistic size mix), and an idle
// compressed session keeps none (TestIdleConnectionMemory's bound).
func TestCompressedSessionsShareCompressors(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	var msgs []string
	for i, size := range []int{2 << 10, 6 << 10, 14 << 10, 20 << 10, 180 << 10, 3 << 10} {
		m := sampleMessage(fmt.Sprintf("mix %d", i), size)
		if i%2 == 1 {
			m = armored(t, size)
		}
		e.deliver(t, m)
		msgs = append(msgs, m)
	}
	var wg sync.WaitGroup
	for s := range 6 {
		wg.Go(func() {
			name := []string{"alice", "bob"}[s%2]
			l := dialRaw(t, e.addr)
			if r := last(l.cmd("l", "LOGIN "+name+" "+imapQuoted(e.pass[name]))); !strings.HasPrefix(r, "l OK") {
				t.Errorf("LOGIN: %q", r)
				return
			}
			if r := l.compress("z"); r != "z OK DEFLATE active" {
				t.Errorf("COMPRESS: %q", r)
				return
			}
			l.cmd("s", "SELECT INBOX")
			for round := range 3 {
				for i, want := range msgs {
					tag := fmt.Sprintf("f%d", i)
					got := l.cmd(tag, fmt.Sprintf("UID FETCH %d BODY.PEEK[]", i+1))
					if !strings.HasPrefix(last(got), tag+" OK") || !strings.HasSuffix(got[0], "\n"+want) {
						t.Errorf("session %d, round %d: message %d came back damaged (%d lines, %q)", s, round, i+1, len(got), last(got))
						return
					}
				}
				l.cmd("n", "NOOP")
			}
		})
	}
	wg.Wait()
}

package imapd

import (
	"compress/flate"
	"fmt"
	"strings"
	"testing"
)

// TestCompressDeepPipelineAnswered: a client that sends a thousand
// commands in one compressed write gets every answer without sending
// another byte (mbsync's default pipelining), whether the write ends in a
// sync flush or, as zlib's Z_PARTIAL_FLUSH leaves it, a few bits short of
// the next block.
func TestCompressDeepPipelineAnswered(t *testing.T) {
	e := newEnv(t, "alice")
	for i := range 10 {
		e.deliver(t, sampleMessage(fmt.Sprint("pipelined ", i), 4<<10))
	}
	const n = 1000
	var b strings.Builder
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&b, "a%d UID FETCH %d (FLAGS)\r\n", i, i%10+1)
		} else {
			fmt.Fprintf(&b, "a%d NOOP\r\n", i)
		}
	}
	for _, level := range []int{flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
		for _, partial := range []bool{false, true} {
			t.Run(fmt.Sprintf("level%d/partial=%v", level, partial), func(t *testing.T) {
				l := dialRaw(t, e.addr)
				if r := last(l.cmd("l", "LOGIN alice "+imapQuoted(e.pass["alice"]))); !strings.HasPrefix(r, "l OK") {
					t.Fatalf("LOGIN: %q", r)
				}
				if r := last(l.cmd("s", "SELECT INBOX")); !strings.HasPrefix(r, "s OK") {
					t.Fatalf("SELECT: %q", r)
				}
				if r := l.compress("z"); r != "z OK DEFLATE active" {
					t.Fatalf("COMPRESS: %q", r)
				}
				writes := clientWrites(t, level, partial, []string{b.String(), "y LOGOUT\r\n"})
				if _, err := l.c.Write(writes[0]); err != nil {
					t.Fatal(err)
				}
				for i := range n {
					tag := fmt.Sprintf("a%d", i)
					if r := l.tagged(tag); !strings.HasPrefix(r, tag+" OK") {
						t.Fatalf("command %d: %q", i, r)
					}
				}
				if _, err := l.c.Write(writes[1]); err != nil {
					t.Fatal(err)
				}
				if r := l.tagged("y"); !strings.HasPrefix(r, "y OK") {
					t.Fatalf("LOGOUT: %q", r)
				}
			})
		}
	}
}

// submissionSizes are the sizes of n submissions in a newsroom's mix:
// mostly 2–20 KiB, one in ten 100 KiB–1 MiB.
func submissionSizes(n int) []int {
	sizes := make([]int, n)
	for i := range sizes {
		if i%10 == 9 {
			sizes[i] = 100<<10 + (i*7919)%(924<<10)
		} else {
			sizes[i] = 2<<10 + (i*104729)%(18<<10)
		}
	}
	return sizes
}

// TestMbsyncDefaultPipelineCompressed: mbsync with its default settings
// (deep pipelining, COMPRESS when offered) syncs hundreds of submissions.
func TestMbsyncDefaultPipelineCompressed(t *testing.T) {
	mbsync := needTool(t, "mbsync")
	e := newEnv(t, "alice")
	msgs := map[string]bool{}
	for i, size := range submissionSizes(300) {
		m := armored(t, size)
		m = fmt.Sprintf("Message-ID: <%d@example.org>\r\n", i) + m
		msgs[m] = true
		e.deliver(t, m)
	}
	maildir, out := mbsyncRun(t, mbsync, e, "alice", "-D")
	if !strings.Contains(out, "COMPRESS DEFLATE") {
		t.Fatalf("mbsync did not ask for COMPRESS DEFLATE:\n%.3000s", out)
	}
	got := syncedMessages(t, maildir)
	for m := range got {
		if !msgs[m] {
			t.Errorf("a synced message (%d bytes) differs from every delivered one", len(m))
		}
		delete(msgs, m)
	}
	if len(msgs) != 0 {
		t.Errorf("%d of 300 messages not synced", len(msgs))
	}
}

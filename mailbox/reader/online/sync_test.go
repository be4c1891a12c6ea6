package online

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// scriptedIMAP is a minimal IMAP server for what the reader asks: one
// INBOX message of size bytes (a repeated pattern, made on the fly) and an
// empty Sent. With cut > 0 the connection ends after cut body bytes.
func scriptedIMAP(t *testing.T, size, cut int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	chunk := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 1024)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "* OK [CAPABILITY IMAP4rev1] ready\r\n")
				r := bufio.NewReader(c)
				mailbox := ""
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					tag, cmd, _ := strings.Cut(strings.TrimSpace(line), " ")
					switch {
					case strings.HasPrefix(cmd, "EXAMINE"), strings.HasPrefix(cmd, "SELECT"):
						mailbox = strings.Fields(cmd)[1]
						n, v := 1, 42
						if mailbox != "INBOX" {
							n, v = 0, 43
						}
						fmt.Fprintf(c, "* %d EXISTS\r\n* OK [UIDVALIDITY %d] ok\r\n%s OK [READ-ONLY] done\r\n", n, v, tag)
					case strings.Contains(cmd, "RFC822.SIZE"):
						fmt.Fprintf(c, "* 1 FETCH (UID 7 RFC822.SIZE %d)\r\n%s OK done\r\n", size, tag)
					case strings.Contains(cmd, "BODY.PEEK[]"):
						fmt.Fprintf(c, "* 1 FETCH (UID 7 BODY[] {%d}\r\n", size)
						limit := size
						if cut > 0 {
							limit = cut
						}
						for sent := int64(0); sent < limit; {
							n := min(int64(len(chunk)), limit-sent)
							if _, err := c.Write(chunk[:n]); err != nil {
								return
							}
							sent += n
						}
						if cut > 0 {
							return
						}
						fmt.Fprintf(c, ")\r\n%s OK done\r\n", tag)
					case strings.HasPrefix(cmd, "LOGOUT"):
						fmt.Fprintf(c, "* BYE\r\n%s OK bye\r\n", tag)
						return
					default:
						fmt.Fprintf(c, "%s OK done\r\n", tag)
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func newHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if _, err := Init(home, Onboarding{Home: Home{User: "jane", IMAPPort: 143, SMTPPort: 587}}); err != nil {
		t.Fatal(err)
	}
	return home
}

// TestSyncStreamsLargeMessage: a 96 MiB message goes to disk without being
// held in memory (the allocations of the whole sync stay far below its
// size), and lands complete.
func TestSyncStreamsLargeMessage(t *testing.T) {
	const size = 96 << 20
	home := newHome(t)
	addr := scriptedIMAP(t, size, 0)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := Sync(context.Background(), SyncOptions{Home: home, Dial: Direct(addr), User: "jane", Passphrase: []byte("pw")})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("syncing a %d MiB message allocated %d MiB", size>>20, alloc>>20)
	}
	fi, err := os.Stat(filepath.Join(home, MaildirName, "INBOX", "cur", "42-7:2,"))
	if err != nil || fi.Size() != size || res[0].Fetched != 1 {
		t.Fatalf("the message in cur/: %v %v %+v", err, fi, res)
	}
}

// TestSyncCutMidMessageLeavesNothing: a connection that ends inside a
// message fails the run with one line, leaves nothing in cur/ or tmp/,
// and the state does not move past the message.
func TestSyncCutMidMessageLeavesNothing(t *testing.T) {
	home := newHome(t)
	_, err := Sync(context.Background(), SyncOptions{Home: home, Dial: Direct(scriptedIMAP(t, 5<<20, 3<<20)), User: "jane", Passphrase: []byte("pw")})
	for _, sub := range []string{"cur", "tmp"} {
		if es, _ := os.ReadDir(filepath.Join(home, MaildirName, "INBOX", sub)); len(es) != 0 {
			t.Errorf("INBOX/%s holds %d files after the cut", sub, len(es))
		}
	}
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("sync cut in a message: %v", err)
	}
	st, err := loadState(home)
	if err != nil || st.Mailboxes["INBOX"].HighestUID != 0 {
		t.Errorf("state after the cut: %+v %v", st, err)
	}
}

// TestSyncRefusesWhileAnotherRuns: two syncs of one home never write its
// Maildir at once; the second says why and changes nothing.
func TestSyncRefusesWhileAnotherRuns(t *testing.T) {
	home := newHome(t)
	unlock, err := lockHome(home)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Sync(context.Background(), SyncOptions{Home: home, Dial: Direct(scriptedIMAP(t, 4<<10, 0)), User: "jane", Passphrase: []byte("pw")})
	if err == nil || !strings.Contains(err.Error(), "another `relay reader` sync or send is running") {
		t.Fatalf("a second sync: %v", err)
	}
	if es, _ := os.ReadDir(filepath.Join(home, MaildirName, "INBOX", "cur")); len(es) != 0 {
		t.Errorf("the refused sync wrote %d files", len(es))
	}
}

package imapd

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"postern/mailbox/authn"
)

// FuzzCommand plays arbitrary bytes as a client over a real TCP connection,
// logged in or not (first byte odd: logged in), and checks that the server
// still greets the next client. Panics in the library's handlers are
// recovered and logged, which the env's logger turns into a failure.
func FuzzCommand(f *testing.F) {
	seeds := []string{
		"\x00a NOOP\r\n",
		"\x00a LOGIN alice wrong\r\nb SELECT INBOX\r\n",
		"\x00a CAPABILITY\r\nb STARTTLS\r\nc AUTHENTICATE PLAIN\r\n*\r\n",
		"\x00a APPEND INBOX {5}\r\nhello\r\n",
		"\x01a SELECT INBOX\r\nb FETCH 1:* (FLAGS BODY.PEEK[] BODYSTRUCTURE ENVELOPE)\r\nc UID FETCH 1:* BODY[1.2.MIME]<0.10>\r\n",
		"\x01a APPEND INBOX (\\Seen) {52}\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\nd SELECT INBOX\r\ne FETCH * BODY[]\r\n",
		"\x01a CREATE \"&Jjo-\"\r\nb RENAME \"&Jjo-\" x/y\r\nc LIST \"\" *\r\nd DELETE x/y\r\ne LSUB \"\" %\r\n",
		"\x01a SELECT INBOX\r\nb SEARCH OR (FLAGGED LARGER 10) NOT SUBJECT \"a\" UID 1:*\r\nc STORE 1 +FLAGS (\\Deleted)\r\nd EXPUNGE\r\n",
		"\x01a SELECT INBOX\r\nb COPY 1:* Trash\r\nc MOVE 1 Archive\r\nd IDLE\r\nDONE\r\ne UID EXPUNGE 1:*\r\nf CLOSE\r\n",
		"\x01a STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY SIZE)\r\nb NAMESPACE\r\nc EXAMINE Sent\r\nd STORE 1 FLAGS x\r\n",
		"\x01a APPEND INBOX {99999999}\r\n",
		"\x00* NOOP\r\n\r\na LOGIN \"jane\r\nb LOGIN {100000000}\r\nc LOGIN {5000+}\r\n",
		"\x01a SELECT {100000}\r\nb SELECT INBOX\r\nc FETCH 0:x (FLAGS)\r\nd SEARCH FROBBLE 12\r\ne IDLE\r\n*\r\n",
		"\x01a COMPRESS DEFLATE\r\n\x4a\x04\x0e\xf5\x0f\x72\x75\x52\xf0\xf0\x77\x73\x74\xf1\xe5\xe5\x02\x00",
		"\x01a COMPRESS DEFLATE\r\n\xff\xff\xff\x00garbage",
		"\x01a SEARCH " + strings.Repeat("(", 300) + "\r\n",
		"\x01a FETCH 1 BODY[" + strings.Repeat("1.", 200) + "1]\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	e.stop()
	// Fuzz inputs run concurrently with nothing but Failed/Name allowed on
	// f, so the server log goes to a panic counter instead of f.
	panics := &panicCounter{}
	e.logTo = panics
	// Guessing must not slow alice's logins in the logged-in half of the corpus.
	e.throttle = authn.NewThrottle(authn.ThrottleOptions{Free: 1 << 30})
	e.start()
	e.addJournalist("alice")
	e.deliver(f, sampleMessage("fuzz", 500))
	login := "l LOGIN alice \"" + e.pass["alice"] + "\"\r\n"

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		before := panics.n.Load()
		drained := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, c)
			drained <- err
		}()
		if data[0]&1 == 1 {
			c.Write([]byte(login))
		}
		c.Write(data[1:])
		c.(*net.TCPConn).CloseWrite()
		// The server must close the connection once the input ends.
		if err := <-drained; err != nil {
			t.Fatalf("connection not closed by the server: %v", err)
		}
		if panics.n.Load() != before {
			t.Fatalf("server panicked: %s", panics.last())
		}

		// The server lives on: a new client is greeted.
		c2, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		c2.SetDeadline(time.Now().Add(30 * time.Second))
		l, err := bufio.NewReader(c2).ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "* OK") {
			t.Fatalf("server not greeting after input: %q %v", l, err)
		}
	})
}

// panicCounter is a log sink that counts recovered panics.
type panicCounter struct {
	n  atomic.Int64
	mu sync.Mutex
	l  string
}

func (p *panicCounter) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "panic") {
		p.mu.Lock()
		p.l = string(b)
		p.mu.Unlock()
		p.n.Add(1)
	}
	return len(b), nil
}

func (p *panicCounter) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.l
}

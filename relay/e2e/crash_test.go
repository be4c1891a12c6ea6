package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/mailbox/store"
	"postern/tools/sourceclient"
)

// Crash test parameters: at least 20 SIGKILLs (the design's claim is "a
// crash at any instant"), a few concurrent sources, small files so a round
// takes about a second.
const (
	crashRounds  = 20
	crashWorkers = 4
	crashMaxFile = 48 << 10
)

var crashIDRE = regexp.MustCompile(`crash-id (r\d+-w\d+-n\d+)`)

// crashFile is the attachment of submission id: its content says whose it
// is, so a mix-up or a truncation is caught, not only a loss.
func crashFile(id string, size int) []byte {
	line := []byte(id + "\n")
	b := bytes.Repeat(line, size/len(line)+1)
	return b[:size]
}

// TestCrashUnderLoad kills the real relay with SIGKILL at random moments
// while several sources submit, then restarts it, crashRounds times. After
// every restart: blobs/ holds no temp file and no file that no message
// references; over IMAP every message decrypts, every submission a source
// saw acknowledged is there whole, UIDs are unique, increasing, and never
// change or get reused; UIDVALIDITY holds. At the end the store checks clean.
func TestCrashUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	in := newInstance(t, strings.Replace(cheapConf, "log_level = debug", "log_level = info", 1))
	// POSTERN_CRASH_SEED replays a failed run's kill moments and file sizes.
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("POSTERN_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("POSTERN_CRASH_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("random seed %d (POSTERN_CRASH_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))

	var (
		mu          sync.Mutex
		acked       = map[string]int{} // id → attachment size
		known       = map[imap.UID]string{}
		maxUID      imap.UID
		uidValidity uint32
		// Replies: the journalist answers one earlier source each round
		// by SMTP; every reply acknowledged (250 after DATA) must be on
		// that source's inbox page after the restart.
		codenames = map[string]string{}   // "rR-wW" → codename
		addrs     = map[string]string{}   // "rR-wW" → source address
		replies   = map[string][]string{} // "rR-wW" → acknowledged reply markers
		tempsAt   int                     // kills that left a temp file behind (the test hit mid-write)
	)
	logs := &syncBuf{}
	for round := 0; round < crashRounds; round++ {
		p := startRelay(t, in, logs)
		ms, uv := inbox(t, p, in)
		verifyInbox(t, round, ms, acked, known, &maxUID)
		learnAddrs(t, ms, addrs)
		shown := verifyReplies(t, round, p, codenames, replies)
		checkBlobs(t, in, round, len(ms)+shown)
		if uidValidity == 0 {
			uidValidity = uv
		} else if uv != uidValidity {
			t.Errorf("round %d: UIDVALIDITY changed from %d to %d", round, uidValidity, uv)
		}
		if t.Failed() {
			t.Fatalf("round %d failed; relay stderr:\n%s", round, logs.Bytes())
		}

		// Sources submit until the relay dies under them.
		c, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		// The kill window opens at the round's first acknowledgement, so
		// a slow start on a loaded machine cannot make a round kill an
		// idle relay.
		firstAck := make(chan struct{})
		var ackOnce sync.Once
		sizes := make([][]int, crashWorkers)
		for w := range crashWorkers {
			for range 64 {
				sizes[w] = append(sizes[w], 1+rng.IntN(crashMaxFile))
			}
		}
		for w := range crashWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				src := sourceclient.New(p.intakeURL(), nil)
				cn, err := src.NewCodename(c)
				if err != nil {
					return
				}
				mu.Lock()
				codenames[fmt.Sprintf("r%d-w%d", round, w)] = cn
				mu.Unlock()
				for n := 0; c.Err() == nil; n++ {
					id := fmt.Sprintf("r%d-w%d-n%d", round, w, n)
					size := sizes[w][n%len(sizes[w])]
					err := src.Submit(c, "crash "+id, "crash-id "+id,
						sourceclient.File{Name: id + ".bin", R: bytes.NewReader(crashFile(id, size))})
					if err != nil {
						return
					}
					mu.Lock()
					acked[id] = size
					mu.Unlock()
					ackOnce.Do(func() { close(firstAck) })
				}
			}()
		}
		if target := fmt.Sprintf("r%d-w0", round-1); addrs[target] != "" {
			replies[target] = []string{} // checked from now on, even if no reply gets through
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; c.Err() == nil; n++ {
					marker := fmt.Sprintf("crash-reply-r%d-n%d", round, n)
					if err := sendReply(p, in, addrs[target], marker); err != nil {
						return
					}
					mu.Lock()
					replies[target] = append(replies[target], marker)
					mu.Unlock()
				}
			}()
		}
		select {
		case <-firstAck:
		case <-time.After(2 * time.Minute):
			cancel()
			t.Fatalf("round %d: no submission was acknowledged; relay stderr:\n%s", round, logs.Bytes())
		}
		time.Sleep(time.Duration(rng.IntN(1200)) * time.Millisecond)
		p.kill()
		cancel()
		wg.Wait()
		if checkBlobs(t, in, round, -1) {
			tempsAt++
		}
	}
	p := startRelay(t, in, logs)
	ms, _ := inbox(t, p, in)
	verifyInbox(t, crashRounds, ms, acked, known, &maxUID)
	shown := verifyReplies(t, crashRounds, p, codenames, replies)
	checkBlobs(t, in, crashRounds, len(ms)+shown)
	p.stop(t)
	nReplies := countReplies(replies)
	t.Logf("%d kills, %d acknowledged submissions, %d acknowledged replies, %d kills left a temp blob to clean up",
		crashRounds, len(acked), nReplies, tempsAt)
	if nReplies == 0 {
		t.Error("no reply was acknowledged: the SMTP path was not under load")
	}
	if len(acked) < crashRounds {
		t.Errorf("only %d submissions acknowledged in %d rounds: the load did not reach the relay", len(acked), crashRounds)
	}

	st, err := store.Open(in.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Errorf("store check after %d kills: %v", crashRounds, err)
	}
	if t.Failed() {
		t.Logf("relay stderr:\n%s", logs.Bytes())
	}
}

// checkBlobs lists blobs/. After a kill it only reports whether a temp
// file is there. After a start-up (messages >= 0, nothing submitted since)
// a temp file is an error, and so is a blob file no record references:
// with one journalist, who gets no copy of her own replies, every blob is
// one INBOX message or one reply on a source's inbox page.
func checkBlobs(t *testing.T, in *instance, round int, messages int) (temp bool) {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(in.dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	blobs := 0
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".tmp") {
			temp = true
			if messages >= 0 {
				t.Errorf("round %d: temp file %s survived start-up", round, e.Name())
			}
			continue
		}
		blobs++
	}
	if messages >= 0 && blobs != messages {
		t.Errorf("round %d: %d blob files for %d messages after start-up", round, blobs, messages)
	}
	return temp
}

// verifyInbox checks one IMAP view of INBOX against everything known so
// far and records the new messages. inbox already failed t for any message
// that does not decrypt.
func verifyInbox(t *testing.T, round int, ms []mail, acked map[string]int, known map[imap.UID]string, maxUID *imap.UID) {
	t.Helper()
	present := map[string]bool{}
	var last imap.UID
	newMax := *maxUID
	for _, m := range ms {
		if m.UID <= last {
			t.Errorf("round %d: UID %d after %d: not increasing", round, m.UID, last)
		}
		last = m.UID
		mm := crashIDRE.FindStringSubmatch(m.Dec.Text)
		if mm == nil {
			t.Errorf("round %d: UID %d has no submission id in its text %.80q", round, m.UID, m.Dec.Text)
			continue
		}
		id := mm[1]
		if present[id] {
			t.Errorf("round %d: submission %s is in INBOX twice", round, id)
		}
		present[id] = true
		// The source's reply key is attached too; the upload is the part
		// named after the submission.
		part := -1
		for i, pt := range m.Dec.Parts {
			if pt.Name == id+".bin" {
				part = i
			}
		}
		if part < 0 {
			t.Errorf("round %d: %s has no attachment %s.bin among %+v", round, id, id, m.Dec.Parts)
		} else if got := readPart(t, m.Dec, part); !bytes.Equal(got, crashFile(id, len(got))) || (acked[id] > 0 && len(got) != acked[id]) {
			t.Errorf("round %d: %s's file is damaged (%d bytes, acknowledged %d)", round, id, len(got), acked[id])
		}
		if old, ok := known[m.UID]; ok {
			if old != id {
				t.Errorf("round %d: UID %d was %s, now %s", round, m.UID, old, id)
			}
		} else {
			if m.UID <= *maxUID {
				t.Errorf("round %d: new message %s got UID %d, not above the highest seen %d", round, id, m.UID, *maxUID)
			}
			known[m.UID] = id
			newMax = max(newMax, m.UID)
		}
	}
	*maxUID = newMax
	for uid, id := range known {
		if !present[id] {
			t.Errorf("round %d: %s (UID %d) disappeared", round, id, uid)
		}
	}
	for id := range acked {
		if !present[id] {
			t.Errorf("round %d: acknowledged submission %s is not in INBOX", round, id)
		}
	}
}

// countReplies is the number of acknowledged replies.
func countReplies(r map[string][]string) int {
	n := 0
	for _, m := range r {
		n += len(m)
	}
	return n
}

// learnAddrs records the source address of each worker's source from the
// From of its submissions.
func learnAddrs(t *testing.T, ms []mail, addrs map[string]string) {
	t.Helper()
	for _, m := range ms {
		mm := crashIDRE.FindStringSubmatch(m.Dec.Text)
		if mm == nil {
			continue
		}
		key := mm[1][:strings.LastIndex(mm[1], "-n")]
		if addrs[key] != "" {
			continue
		}
		h, err := netmail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			t.Fatal(err)
		}
		a, err := netmail.ParseAddress(h.Header.Get("From"))
		if err != nil {
			t.Fatalf("From of %s: %v", mm[1], err)
		}
		addrs[key] = a.Address
	}
}

// sendReply sends one plaintext reply from the journalist to addr.
func sendReply(p *relayProc, in *instance, addr, marker string) error {
	c, err := smtp.Dial(p.info.SMTPAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("laptop.example"); err != nil {
		return err
	}
	if err := c.Auth(sasl.NewPlainClient("", in.name, in.pass)); err != nil {
		return err
	}
	msg := "From: Jane <jane@newsroom.example>\r\nTo: <" + addr + ">\r\nSubject: Re: your documents\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + marker + "\r\n"
	return c.SendMail("jane@newsroom.example", []string{addr}, strings.NewReader(msg))
}

// verifyReplies logs in as every source that was replied to and checks that
// each acknowledged reply is on its inbox page and every reply there is
// readable. It returns how many replies the pages show in all.
func verifyReplies(t *testing.T, round int, p *relayProc, codenames map[string]string, replies map[string][]string) (shown int) {
	t.Helper()
	c := ctx(t, time.Minute)
	for key, markers := range replies {
		src := sourceclient.New(p.intakeURL(), nil)
		if err := src.Login(c, codenames[key]); err != nil {
			t.Errorf("round %d: source %s cannot log in: %v", round, key, err)
			continue
		}
		pg, err := src.Inbox(c)
		if err != nil {
			t.Fatal(err)
		}
		shown += strings.Count(pg.Body, `<article class="reply"`)
		if strings.Contains(pg.Body, `class="problem"`) {
			t.Errorf("round %d: source %s has an unreadable reply", round, key)
		}
		for _, m := range markers {
			if !strings.Contains(pg.Body, m+"\n") && !strings.Contains(pg.Body, m+"<") {
				t.Errorf("round %d: acknowledged reply %s is not on %s's inbox page", round, m, key)
			}
		}
	}
	return shown
}

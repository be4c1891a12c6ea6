package web

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"postern/mailbox/tally"
)

// TestNoPlaintextOnDisk plants markers in every field a source controls and
// in a reply, then looks for them in every byte of the data directory and
// of the log.
func TestNoPlaintextOnDisk(t *testing.T) {
	counts := tally.New()
	e := newEnv(t, func(o *Options) { o.Tally = counts })
	b := e.browser()
	codename := b.newCodename()
	tok := b.token("/submit")
	const (
		mSubject = "MARKERsubjectQ7"
		mText    = "MARKERtextZ3"
		mFile    = "MARKERfilecontentK9"
		mName    = "MARKERfilenameW2"
		mReply   = "MARKERreplyR5"
	)
	p := b.postMultipart("/submit", field("csrf", tok), field("subject", mSubject), field("message", "a "+mText+" b"),
		filePart(mName+".txt", strings.NewReader(strings.Repeat(mFile, 1000))),
		filePart("second-"+mName, strings.NewReader(mFile)))
	want(t, p, 200, "received")
	// A failed submission leaves no trace either.
	p = b.postMultipart("/submit", field("csrf", tok), field("subject", mSubject+"\r\nX: y"), field("message", mText))
	want(t, p, 400, "single line")
	e.addReply("Re", mReply, map[string][]byte{mName + ".reply": []byte(mFile)})
	want(t, b.get("/inbox"), 200, mReply)

	words := strings.Fields(codename)
	markers := []string{mSubject, mText, mFile, mName, mReply, codename, strings.Join(words, "-"), torUA, "Windows NT 10.0"}
	grepDir(t, e.dir, markers...)
	e.waitUploadsDone() // every submission handler has returned: all it counts is counted
	for _, m := range append(markers, words[0]+" "+words[1]) {
		for _, c := range counts.Total() {
			if strings.Contains(c.Kind+c.LastError, m) {
				t.Errorf("counted failure %+v holds %q", c, m)
			}
		}
	}
	// The journalist can read everything that was planted.
	ds := e.delivered()
	if len(ds) != 1 || ds[0].Subject != mSubject || !strings.Contains(ds[0].Text, mText) {
		t.Fatalf("delivered %+v", ds)
	}
}

// pattern is an endless reader of cheap, non-repeating-looking bytes.
type pattern struct{ n uint64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		p.n++
		b[i] = byte(p.n*2654435761>>13) ^ byte(p.n)
	}
	return len(b), nil
}

// TestLargeUploadMemory streams 200 MiB through the form while sampling the
// heap: the upload must never be buffered.
func TestLargeUploadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MiB upload")
	}
	if raceEnabled {
		t.Skip("runs in make test's second pass, without -race (it slows streaming about fifteenfold)")
	}
	const size = 200 << 20
	e := newEnv(t, nil)
	b, tok := e.loggedIn()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	rssBase := procStatus(t, "VmRSS")
	resetPeakRSS()
	ctx, stop := context.WithCancel(context.Background())
	peak := make(chan uint64)
	go func() {
		var max uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				peak <- max
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > max {
					max = m.HeapInuse
				}
			}
		}
	}()
	p := b.postMultipart("/submit", field("csrf", tok), field("message", "big one"),
		filePart("big.bin", io.LimitReader(&pattern{}, size)))
	stop()
	max := <-peak
	want(t, p, 200, "received")
	growth := int64(max) - int64(base)
	t.Logf("heap in use: base %d MiB, peak %d MiB", base>>20, max>>20)
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d MiB during a 200 MiB upload", growth>>20)
	}
	if rssBase > 0 && !raceEnabled {
		hwm := procStatus(t, "VmHWM")
		t.Logf("RSS: base %d MiB, peak %d MiB", rssBase>>20, hwm>>20)
		if hwm-rssBase > 64<<20 {
			t.Fatalf("resident memory grew by %d MiB", (hwm-rssBase)>>20)
		}
	}
	msgs, err := e.st.Messages("alice", "INBOX")
	if err != nil || len(msgs) != 1 || msgs[0].Blob.Size < size {
		t.Fatalf("stored %v %+v", err, msgs)
	}
	e.check()
}

// procStatus reads a "kB" field of /proc/self/status, in bytes; 0 when
// /proc is not there.
func procStatus(t *testing.T, key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n << 10
		}
	}
	return 0
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux).
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// TestRefuse600MiB sends a 600 MiB submission at the default 500 MiB limit:
// a browser declares the length, so it is refused before a byte is stored.
func TestRefuse600MiB(t *testing.T) {
	e := newEnv(t, nil)
	b, tok := e.loggedIn()
	head := "--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + tok +
		"\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.bin\"\r\n\r\n"
	tail := "\r\n--B--\r\n"
	const size = 600 << 20
	body := io.MultiReader(strings.NewReader(head), io.LimitReader(&pattern{}, size), strings.NewReader(tail))
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/submit", body)
	req.ContentLength = int64(len(head) + size + len(tail))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
	p := b.do(req)
	want(t, p, http.StatusRequestEntityTooLarge, "larger than 500 MiB")
	e.nothingStored()
}

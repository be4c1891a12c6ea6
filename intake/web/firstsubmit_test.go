package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// A first upload that fails must not take away what the same source
// committed meanwhile in another tab (found in review: it used to delete the
// whole source, acknowledged submissions included).
func TestFailedFirstUploadKeepsOtherTabsSubmission(t *testing.T) {
	e := newEnv(t, nil)
	b, tok := e.loggedIn() // a new codename; no source record yet

	// Tab A: starts the first upload, then stalls mid-file.
	cutA := e.stalledUpload(b, tok, "tab A")

	// Tab B: the same session sends a message, and is told it was received.
	p := b.postMultipart("/submit", field("csrf", tok), field("message", "tab B"))
	if !strings.Contains(p.url, "/submitted") {
		t.Fatalf("tab B: %d\n%s", p.status, p.body)
	}

	// Tab A's circuit breaks. The server notices a moment after the
	// client does: wait until its handler has aborted the upload and given
	// back the upload slot (the slot is released only after the abort).
	cutA()
	e.waitUploadsDone()
	if st := e.stats(); st.Sources != 1 || st.Messages != 1 {
		t.Fatalf("after tab A failed: %+v; tab B's acknowledged submission must remain", st)
	}
	e.check()
	if got := fmt.Sprint(len(e.delivered())); got != "1" {
		t.Fatalf("delivered %s", got)
	}
}

// Submissions in flight are bounded: past MaxUploads a source gets the busy
// page at once, and nothing is stored for it.
func TestUploadsInFlightBounded(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.MaxUploads = 1
		o.UploadMinRate = -1 // no rate floor: a stalled upload cannot be contested (contest.go)
	})
	a, tokA := e.loggedIn()
	cutA := e.stalledUpload(a, tokA, "slow") // holds the only upload slot
	b, tokB := e.loggedIn()
	p := b.postMultipart("/submit", field("csrf", tokB), field("message", "second"))
	if p.status != http.StatusServiceUnavailable {
		t.Fatalf("second upload: %d, want 503 busy", p.status)
	}
	cutA()
}

// stalledUpload starts a first submission on b that sends its fields and part
// of a file, then stalls; it returns once the upload has created the source
// record. cut breaks it, as a dropped Tor circuit would, and waits for the
// client to give up.
func (e *env) stalledUpload(b *browser, tok, message string) (cut func()) {
	e.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/submit", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("User-Agent", torUA)
		if resp, err := b.c.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	go func() {
		mw.WriteField("csrf", tok)
		mw.WriteField("message", message)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="a.bin"`)
		w, _ := mw.CreatePart(h)
		w.Write([]byte(strings.Repeat("a", 64<<10)))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.stats().Sources == 0 {
		if time.Now().After(deadline) {
			e.t.Fatal("the stalled upload never created its source")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return func() {
		pw.CloseWithError(errors.New("circuit closed"))
		<-done
	}
}

// waitUploadsDone waits until no upload holds a slot: every upload
// handler has finished, its commit or abort included.
func (e *env) waitUploadsDone() {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for len(e.srv.uploads) > 0 {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d uploads still in flight after a minute", len(e.srv.uploads))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

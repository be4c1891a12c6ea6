package web

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A few sessions holding every upload slot with uploads that send (almost)
// nothing cannot keep a newcomer out, even inside the grace period: the
// newcomer takes the place of the slowest upload, whose source is told why,
// and is acknowledged. Before, 8 sessions × 2 silent uploads re-opened each
// minute kept every other source on the busy page.
func TestSilentUploadsCannotHoldEverySlotInGrace(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxUploads = 4 }) // grace: the default minute
	var trickles []<-chan page
	for range 2 {
		slow, tok := e.loggedIn()
		for range 2 {
			trickles = append(trickles, e.trickle(slow, tok))
			for len(e.srv.uploads) != len(trickles) {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}

	other, otherTok := e.loggedIn()
	msg := strings.Repeat("a realistic message of some length. ", 20<<10/36)
	file := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)
	want(t, other.postMultipart("/submit", field("csrf", otherTok), field("message", msg),
		filePart("report.pdf", bytes.NewReader(file))), 200, "received")

	cases := make([]reflect.SelectCase, len(trickles))
	for i, ch := range trickles {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)}
	}
	_, v, _ := reflect.Select(cases) // one was dropped for the newcomer
	want(t, v.Interface().(page), http.StatusRequestTimeout, "less than 8 KiB per second")
	if st := e.stats(); st.Messages != 1 || st.Sources != 1 {
		t.Fatalf("stored %+v; want only the newcomer's submission", st)
	}
}

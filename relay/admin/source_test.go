package admin

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"postern/mailbox/store"
)

// sourceTraces is every form in which a source could linger in the files:
// designation, address, id (raw, hex, and base64 as JSON stores []byte), the
// reply key (raw and base64), fingerprint, thread id, and the first bytes of
// each of their blob files.
func sourceTraces(t *testing.T, f *fixture, src *testSource) map[string][]byte {
	t.Helper()
	r := src.rec
	tr := map[string][]byte{
		"designation":      []byte(r.Designation),
		"designation (lc)": []byte(strings.ToLower(r.Designation)),
		"address":          []byte(r.Address),
		"id":               r.ID,
		"id hex":           []byte(hex.EncodeToString(r.ID)),
		"id base64":        []byte(base64.StdEncoding.EncodeToString(r.ID)),
		"key":              r.PublicKey,
		"key base64":       []byte(base64.StdEncoding.EncodeToString(r.PublicKey)[:64]),
		"fingerprint":      []byte(r.Fingerprint),
		"thread":           []byte(r.ThreadID),
	}
	for i, b := range blobsOf(t, f, src) {
		data, err := os.ReadFile(filepath.Join(f.dir, "blobs", b))
		if err != nil {
			t.Fatal(err)
		}
		tr["blob "+b] = []byte(b)
		tr["blob content "+string(rune('0'+i))] = data[:min(len(data), 96)]
	}
	return tr
}

// blobsOf lists the blob ids of a source's messages (every mailbox) and replies.
func blobsOf(t *testing.T, f *fixture, src *testSource) []string {
	t.Helper()
	st := f.a.Store()
	seen := map[string]bool{}
	js, _ := st.Journalists()
	for _, j := range js {
		mbs, err := st.Mailboxes(j.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range mbs {
			msgs, err := st.Messages(j.Name, mb.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if string(m.SourceID) == string(src.rec.ID) {
					seen[m.Blob.ID] = true
				}
			}
		}
	}
	reps, err := st.Replies(src.rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		seen[r.Blob.ID] = true
	}
	var out []string
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func assertNoTrace(t *testing.T, dir string, traces map[string][]byte) {
	t.Helper()
	for what, needle := range traces {
		if hits := scanDir(t, dir, needle); len(hits) > 0 {
			t.Errorf("%s of the deleted source found in %v", what, hits)
		}
	}
}

type eventLog struct {
	mu sync.Mutex
	ev []store.Event
}

func (l *eventLog) add(e store.Event) { l.mu.Lock(); l.ev = append(l.ev, e); l.mu.Unlock() }

func (l *eventLog) expunged() map[string][]uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]uint32{}
	for _, e := range l.ev {
		if e.Kind == store.EventExpunge {
			out[e.Journalist+"/"+e.Mailbox] = append(out[e.Journalist+"/"+e.Mailbox], e.UIDs...)
		}
	}
	for _, u := range out {
		slices.Sort(u)
	}
	return out
}

func TestSourceDeleteLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "ana", "bob")
	gone, kept := f.newSource(t), f.newSource(t)
	f.submit(t, gone, "first from the source to delete")
	f.submit(t, kept, "from the source that stays")
	f.submit(t, gone, "second from the source to delete")
	f.reply(t, gone, "reply to the source to delete")
	f.reply(t, kept, "reply to the source that stays")
	st := f.a.Store()
	// ana files one of them in Archive: that copy must go too.
	if _, err := st.Copy("ana", "INBOX", []uint32{3}, "Archive"); err != nil {
		t.Fatal(err)
	}
	list, err := f.a.SourceList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("list: %+v", list)
	}
	for _, s := range list {
		want := SourceInfo{Designation: s.Designation, Created: "2026-03-03", LastActive: "2026-03-03", Messages: 1, Replies: 1, Desk: "newsroom"}
		if s.Designation == gone.rec.Designation {
			want.Messages = 2
		}
		if s != want {
			t.Errorf("list entry %+v, want %+v", s, want)
		}
	}
	traces := sourceTraces(t, f, gone)
	// The scan must be able to see them: each trace is in the files now.
	for what, needle := range traces {
		if what == "key" || what == "key base64" || what == "fingerprint" || strings.HasPrefix(what, "blob content") {
			continue
		}
		if what != "id hex" && len(scanDir(t, f.dir, needle)) == 0 {
			t.Fatalf("before deletion, %s is not found by the scan", what)
		}
	}
	var events eventLog
	defer st.Subscribe(events.add)()

	res, err := f.a.SourceDelete(ctx, strings.ToUpper(gone.rec.Designation))
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 2 || res.Replies != 1 {
		t.Fatalf("deleted %+v", res)
	}
	// Right after the delete (it compacts), and again after retention and
	// another compaction below.
	assertNoTrace(t, f.dir, traces)
	// Every journalist mailbox that held a copy is told.
	want := map[string][]uint32{"ana/INBOX": {1, 3}, "bob/INBOX": {1, 3}, "ana/Archive": {1}}
	if got := events.expunged(); len(got) != len(want) {
		t.Fatalf("expunge events %v, want %v", got, want)
	} else {
		for k, v := range want {
			if !slices.Equal(got[k], v) {
				t.Fatalf("expunge events %v, want %v", got, want)
			}
		}
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.SourceDelete(ctx, gone.rec.Designation); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	for _, bad := range []string{"", "  ", "a\nb", strings.Repeat("x", 101)} {
		if _, err := f.a.SourceDelete(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("designation %q: %v", bad, err)
		}
	}
	// The source that stays is whole and can still read its reply.
	if _, texts := readReplies(t, st, f.a.Pool(), f.kdfParams(), kept.codename); !slices.Equal(texts, []string{"reply to the source that stays"}) {
		t.Fatalf("kept source's replies: %q", texts)
	}
	// Retention and compaction afterwards change nothing about that.
	f.clock.Add(200 * 24 * time.Hour)
	if _, err := f.a.RunRetention(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	assertNoTrace(t, f.dir, traces)
	if _, err := st.SourceByDesignation(gone.rec.Designation); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted source still found: %v", err)
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "ana", "bob")
	src := f.newSource(t)
	f.submit(t, src, "old")
	f.reply(t, src, "old reply")
	st := f.a.Store()
	if _, err := st.Copy("ana", "INBOX", []uint32{1}, "Archive"); err != nil {
		t.Fatal(err)
	}
	oldTraces := map[string][]byte{}
	for i, b := range blobsOf(t, f, src) {
		data, _ := os.ReadFile(filepath.Join(f.dir, "blobs", b))
		oldTraces["old blob "+string(rune('0'+i))] = data[:96]
	}
	f.clock.Add(50 * 24 * time.Hour) // day 50: a newer submission
	f.submit(t, src, "newer")

	// Day 88 (retention 90): nothing due today or tomorrow, the old items this week.
	f.clock.Add(38 * 24 * time.Hour)
	rs, err := f.a.RetentionStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Days != 90 || rs.Overdue != (Due{}) || rs.DueDay != (Due{}) || rs.DueWeek != (Due{Messages: 3, Replies: 1}) {
		t.Fatalf("day 88: %+v", rs)
	}
	if rs.NextRun != "" || rs.LastRun != "" {
		t.Fatalf("no loop runs, yet %+v", rs)
	}
	f.clock.Add(24 * time.Hour) // day 89: due within a day
	if rs, _ = f.a.RetentionStatus(ctx); rs.Overdue != (Due{}) || rs.DueDay != (Due{Messages: 3, Replies: 1}) {
		t.Fatalf("day 89: %+v", rs)
	}
	if n, err := f.a.RunRetention(ctx); err != nil || n.Messages+n.Replies != 0 {
		t.Fatalf("day 89 pass: %+v %v", n, err)
	}
	f.clock.Add(24 * time.Hour) // day 90: kept 90 days (day 0 … 89), gone now
	if rs, _ = f.a.RetentionStatus(ctx); rs.Overdue != (Due{Messages: 3, Replies: 1}) {
		t.Fatalf("day 90: %+v", rs)
	}
	var events eventLog
	defer st.Subscribe(events.add)()
	n, err := f.a.RunRetention(ctx)
	if err != nil || n != (Expired{Days: 90, Messages: 3, Replies: 1}) {
		t.Fatalf("day 90 pass: %+v %v", n, err)
	}
	want := map[string][]uint32{"ana/INBOX": {1}, "bob/INBOX": {1}, "ana/Archive": {1}}
	if got := events.expunged(); len(got) != 3 || !slices.Equal(got["ana/INBOX"], want["ana/INBOX"]) ||
		!slices.Equal(got["bob/INBOX"], want["bob/INBOX"]) || !slices.Equal(got["ana/Archive"], want["ana/Archive"]) {
		t.Fatalf("expunge events %v", got)
	}
	for _, j := range []string{"ana", "bob"} {
		msgs, err := st.Messages(j, "INBOX")
		if err != nil || len(msgs) != 1 || msgs[0].UID != 2 {
			t.Fatalf("%s INBOX after retention: %+v %v", j, msgs, err)
		}
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	assertNoTrace(t, f.dir, oldTraces)
	// The source itself stays: it can still log in (with no replies left).
	if got, texts := readReplies(t, st, f.a.Pool(), f.kdfParams(), src.codename); got.Designation != src.rec.Designation || len(texts) != 0 {
		t.Fatalf("after retention: %+v %q", got, texts)
	}
	st2, err := f.a.Status(ctx)
	if err != nil || st2.Retention == nil || st2.Retention.Overdue != (Due{}) {
		t.Fatalf("status: %+v %v", st2.Retention, err)
	}
}

func TestRetentionLoopRunsAtStart(t *testing.T) {
	f := newFixture(t, "ana")
	src := f.newSource(t)
	f.submit(t, src, "old")
	f.clock.Add(100 * 24 * time.Hour)
	stop := f.a.StartRetention(context.Background())
	defer stop()
	deadline := time.Now().Add(time.Minute)
	var rs RetentionStatus
	for {
		var err error
		if rs, err = f.a.RetentionStatus(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rs.NextRun != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	// Clock: 2026-06-11 15:04:05; next pass after the next UTC midnight.
	if rs.LastRun != "2026-06-11T15:04:05Z" || rs.NextRun != "2026-06-12T00:05:00Z" || rs.Removed != (Due{Messages: 1}) {
		t.Fatalf("after the first pass: %+v", rs)
	}
	if msgs, _ := f.a.Store().Messages("ana", "INBOX"); len(msgs) != 0 {
		t.Fatalf("pass at start left %d messages", len(msgs))
	}
}

func TestRetentionForever(t *testing.T) {
	f := newFixture(t, "ana")
	f.a.cfg.RetentionDays = 0
	src := f.newSource(t)
	f.submit(t, src, "kept")
	f.clock.Add(10000 * 24 * time.Hour)
	if n, err := f.a.RunRetention(context.Background()); err != nil || n.Messages != 0 {
		t.Fatalf("%+v %v", n, err)
	}
	f.a.StartRetention(context.Background())() // returns at once
	if msgs, _ := f.a.Store().Messages("ana", "INBOX"); len(msgs) != 1 {
		t.Fatal("retention 0 removed a message")
	}
}

func TestSourcePrune(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "ana")
	quiet, active := f.newSource(t), f.newSource(t)
	f.submit(t, quiet, "hello")
	f.clock.Add(40 * 24 * time.Hour)
	if err := f.a.Store().TouchSource(active.rec.ID); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{0, -1, 100_001} {
		if _, err := f.a.SourcePrune(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("prune %d: %v", bad, err)
		}
	}
	res, err := f.a.SourcePrune(ctx, 41)
	if err != nil || len(res.Deleted) != 0 {
		t.Fatalf("prune 41: %+v %v", res, err)
	}
	res, err = f.a.SourcePrune(ctx, 40)
	if err != nil || len(res.Deleted) != 1 || res.Deleted[0].Designation != quiet.rec.Designation || res.Deleted[0].Messages != 1 {
		t.Fatalf("prune 40: %+v %v", res, err)
	}
	list, _ := f.a.SourceList(ctx)
	if len(list) != 1 || list[0].Designation != active.rec.Designation {
		t.Fatalf("left: %+v", list)
	}
}

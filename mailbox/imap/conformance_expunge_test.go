package imapd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Two sessions on one mailbox: A expunges, B has not been told yet (RFC
// 3501 §7.4.1, RFC 9051 §5.5: B's sequence numbers stay as they were until
// B receives the EXPUNGE responses). B's commands must name the messages
// B means; a message B cannot be served is answered with [EXPUNGEISSUED],
// never left out with a plain OK, never replaced by another one; an empty
// COPY is one plain OK. The rows run against ours and against Dovecot.
//
// Where the two differ, both are accepted: for FETCH, Dovecot still serves
// the UID and flags of a message expunged under B (from its index) and
// answers OK [EXPUNGEISSUED] with NIL bodies; we answer what exists, then
// NO [EXPUNGEISSUED] (RFC 5530; RFC 2180 §4.1.2 allows either). A UID
// FETCH of such a message is an OK without it here (RFC 9051 §6.4.9: a
// UID that does not exist is ignored), its UID alone at Dovecot. COPY and
// MOVE naming one, by number or UID, are NO [EXPUNGEISSUED] on both, and
// copy nothing.

func TestExpungeConformance(t *testing.T) {
	e := newEnv(t, "alice")
	runExpungeConformance(t, target{Addr: e.addr, User: "alice", Password: e.pass["alice"]})
}

func TestExpungeConformanceDovecot(t *testing.T) {
	bin := needTool(t, "dovecot") // first: -short must not hide a missing Dovecot under CI
	if testing.Short() {
		t.Skip("short")
	}
	dv := startDovecot(t, bin)
	runExpungeConformance(t, target{Addr: dv.Addr, User: "alice", Password: "secret"})
}

// expungeFixture is a mailbox of five messages selected by A (a go-imap
// client) and B (raw lines); A has expunged messages 2 and 4, B has not
// been told.
type expungeFixture struct {
	a    *imapclient.Client
	b    *raw
	box  string
	uids []uint32 // B's view: UIDs by sequence number
}

func (f *expungeFixture) gone(seq int) bool { return seq == 2 || seq == 4 }

var fetchUID = regexp.MustCompile(`^\* (\d+) FETCH \(.*\bUID (\d+)`)

// fetched maps sequence numbers to the UIDs of FETCH lines, and fails on a
// line whose UID is not the one B's view has at that number.
func (f *expungeFixture) fetched(t *testing.T, lines []string) map[int]bool {
	t.Helper()
	got := map[int]bool{}
	for _, l := range lines {
		m := fetchUID.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		seq, _ := strconv.Atoi(m[1])
		uid, _ := strconv.Atoi(m[2])
		if seq < 1 || seq > len(f.uids) || f.uids[seq-1] != uint32(uid) {
			t.Errorf("wrong message: %q, B's view is %v", l, f.uids)
			continue
		}
		got[seq] = true
	}
	return got
}

// oneTagged fails unless lines end in the only tagged answer for tag.
func oneTagged(t *testing.T, tag string, lines []string) string {
	t.Helper()
	r := last(lines)
	if !strings.HasPrefix(r, tag+" OK") && !strings.HasPrefix(r, tag+" NO") {
		t.Errorf("answer %q", r)
	}
	if strings.Contains(r[len(tag):], " "+tag+" ") || strings.Count(r, "[") > 1 {
		t.Errorf("two answers in one line: %q", r)
	}
	return r
}

func runExpungeConformance(t *testing.T, tg target) {
	prefix := fmt.Sprintf("exp%d", os.Getpid())
	n := 0
	setup := func(t *testing.T) *expungeFixture {
		t.Helper()
		n++
		f := &expungeFixture{box: fmt.Sprintf("%s-%d", prefix, n)}
		a, err := imapclient.DialInsecure(tg.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		if err := a.Login(tg.User, tg.Password).Wait(); err != nil {
			t.Fatal(err)
		}
		f.a = a
		mustCreate(t, a, f.box)
		t.Cleanup(func() { mustDelete(t, a, f.box) })
		for i, size := range []int{4 << 10, 12 << 10, 150 << 10, 8 << 10, 20 << 10} {
			ad := mustAppend(t, a, f.box, sampleMessage(fmt.Sprintf("conformance %d", i+1), size), nil)
			f.uids = append(f.uids, uint32(ad.UID))
		}
		f.b = dialRaw(t, tg.Addr)
		if r := last(f.b.cmd("l", "LOGIN "+imapQuoted(tg.User)+" "+imapQuoted(tg.Password))); !strings.HasPrefix(r, "l OK") {
			t.Fatalf("B LOGIN: %q", r)
		}
		if r := last(f.b.cmd("s", "SELECT "+f.box)); !strings.HasPrefix(r, "s OK") {
			t.Fatalf("B SELECT: %q", r)
		}
		if _, err := a.Select(f.box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := a.Store(imap.SeqSet{{Start: 2, Stop: 2}, {Start: 4, Stop: 4}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Expunge().Collect(); err != nil {
			t.Fatal(err)
		}
		return f
	}

	// Every message that exists is served under B's numbers; one that
	// does not is answered with EXPUNGEISSUED.
	for _, cmd := range []string{"FETCH * (UID)", "FETCH 2:* (UID)", "FETCH 1:5 (UID FLAGS)", "FETCH 2 (UID)",
		"FETCH 1:* (UID RFC822.SIZE BODY.PEEK[TEXT]<0.100>)", "FETCH 4,5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"} {
		t.Run(cmd, func(t *testing.T) {
			f := setup(t)
			want := fetchSeqs(cmd)
			lines := f.b.cmd("x", cmd)
			r := oneTagged(t, "x", lines)
			got := f.fetched(t, lines)
			for _, seq := range want {
				if !got[seq] && (!f.gone(seq) || !strings.Contains(r, "[EXPUNGEISSUED]")) {
					t.Errorf("%s: message %d (UID %d) left out, answer %q", cmd, seq, f.uids[seq-1], r)
				}
			}
			if strings.Contains(r, "[EXPUNGEISSUED]") && !slices.ContainsFunc(want, f.gone) {
				t.Errorf("%s: EXPUNGEISSUED with no expunged message asked for", cmd)
			}
		})
	}
	t.Run("UID FETCH", func(t *testing.T) {
		f := setup(t)
		lines := f.b.cmd("x", fmt.Sprintf("UID FETCH %d:%d (UID FLAGS)", f.uids[0], f.uids[4]))
		oneTagged(t, "x", lines)
		got := f.fetched(t, lines)
		for _, seq := range []int{1, 3, 5} {
			if !got[seq] {
				t.Errorf("message %d (UID %d) left out", seq, f.uids[seq-1])
			}
		}
		// Expunges may be told after a UID command: B's view follows.
		f.b.cmd("n", "NOOP")
		if r := last(f.b.cmd("y", "FETCH * (UID)")); !strings.HasPrefix(r, "y OK") {
			t.Errorf("after NOOP: %q", r)
		}
	})
	t.Run("NewMailWhileExpungePending", func(t *testing.T) {
		// EXISTS counts the messages B knows of, expunged ones included;
		// then NOOP tells the expunges, and numbers move down.
		f := setup(t)
		ad := mustAppend(t, f.a, f.box, sampleMessage("conformance 6", 3<<10), nil)
		lines := f.b.cmd("x", "FETCH 1 (UID)")
		if !slices.Contains(lines, "* 6 EXISTS") || !strings.HasPrefix(last(lines), "x OK") {
			t.Errorf("FETCH after a delivery: %q, want * 6 EXISTS", lines)
		}
		f.uids = append(f.uids, uint32(ad.UID))
		lines = f.b.cmd("n", "NOOP")
		var exp []string
		for _, l := range lines {
			if strings.HasSuffix(l, " EXPUNGE") {
				exp = append(exp, l)
			}
		}
		// Highest first (4 then 2) or lowest first (2 then 3).
		if fmt.Sprint(exp) != "[* 4 EXPUNGE * 2 EXPUNGE]" && fmt.Sprint(exp) != "[* 2 EXPUNGE * 3 EXPUNGE]" {
			t.Errorf("NOOP told %q", exp)
		}
		f.uids = []uint32{f.uids[0], f.uids[2], f.uids[4], f.uids[5]}
		lines = f.b.cmd("y", "FETCH 1:* (UID)")
		if got := f.fetched(t, lines); len(got) != 4 || !strings.HasPrefix(last(lines), "y OK") {
			t.Errorf("after NOOP: %q", lines)
		}
	})
	t.Run("ClientFetch", func(t *testing.T) {
		// The same through go-imap's client, which reads the wire for us.
		f := setup(t)
		c, err := imapclient.DialInsecure(tg.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(tg.User, tg.Password).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select(f.box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		// c selected after the expunge: its view is 1, 3, 5 → 1, 2, 3.
		if err := f.a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.a.Expunge().Collect(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 2, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
		var ierr *imap.Error
		if err != nil && (!errors.As(err, &ierr) || ierr.Code != "EXPUNGEISSUED") {
			t.Fatalf("FETCH 2:*: %v", err)
		}
		byUID := map[imap.UID]uint32{}
		for _, m := range msgs {
			byUID[m.UID] = m.SeqNum
		}
		if byUID[imap.UID(f.uids[2])] != 2 || byUID[imap.UID(f.uids[4])] != 3 {
			t.Errorf("FETCH 2:* by a client that was not told: %v, want UID %d at 2 and UID %d at 3", byUID, f.uids[2], f.uids[4])
		}
	})

	// SEARCH reads the messages while others are gone: OK, B's numbers.
	for _, cmd := range []string{"SEARCH TEXT conformance", "SEARCH BODY QUFB", "SEARCH 2:* TEXT conformance", "UID SEARCH TEXT conformance"} {
		t.Run(cmd, func(t *testing.T) {
			f := setup(t)
			lines := f.b.cmd("x", cmd)
			if r := last(lines); !strings.HasPrefix(r, "x OK") {
				t.Fatalf("%s: %q", cmd, r)
			}
			if cmd != "SEARCH TEXT conformance" {
				return
			}
			var got []string
			for _, l := range lines {
				if s, ok := strings.CutPrefix(l, "* SEARCH"); ok {
					got = append(got, strings.Fields(s)...)
				}
			}
			for _, seq := range []string{"1", "3", "5"} {
				if !slices.Contains(got, seq) {
					t.Errorf("%s = %v, lacks %s", cmd, got, seq)
				}
			}
		})
	}

	// COPY and MOVE: one tagged answer, COPYUID only for what was copied.
	for _, cmd := range []string{"UID COPY 999999 Trash", "UID MOVE 999999 Trash", "UID COPY {2} Trash", "UID MOVE {4} Trash",
		"COPY 2 Trash", "COPY 2:3 Trash", "MOVE 4 Trash", "MOVE 3:5 Trash", "COPY 1 Trash"} {
		t.Run(cmd, func(t *testing.T) {
			f := setup(t)
			c := strings.NewReplacer("{2}", fmt.Sprint(f.uids[1]), "{4}", fmt.Sprint(f.uids[3])).Replace(cmd)
			lines := f.b.cmd("x", c)
			r := oneTagged(t, "x", lines)
			for _, l := range lines[:len(lines)-1] {
				if strings.HasPrefix(l, "x ") {
					t.Errorf("%s: a second tagged answer %q", c, l)
				}
			}
			cu := ""
			for _, l := range lines {
				if i := strings.Index(l, "[COPYUID "); i >= 0 {
					cu = l[i:]
				}
			}
			switch {
			case strings.Contains(cmd, "999999"):
				if !strings.HasPrefix(r, "x OK") || cu != "" {
					t.Errorf("%s of nothing: %q (%q), want OK without COPYUID", c, r, cu)
				}
			case cmd == "COPY 1 Trash":
				if fs := strings.Fields(cu); !strings.HasPrefix(r, "x OK") || len(fs) < 4 || fs[2] != fmt.Sprint(f.uids[0]) {
					t.Errorf("%s: %q (%q)", c, r, cu)
				}
			default:
				// Both servers refuse the whole command and copy nothing.
				if !strings.HasPrefix(r, "x NO [EXPUNGEISSUED]") || cu != "" {
					t.Errorf("%s naming an expunged message: %q (%q)", c, r, cu)
				}
			}
			if cu != "" {
				// The source UIDs are those B named.
				src := strings.Fields(cu)[2]
				for _, u := range strings.Split(src, ",") {
					lo, _, _ := strings.Cut(u, ":")
					v, _ := strconv.Atoi(lo)
					if !slices.Contains(f.uids, uint32(v)) {
						t.Errorf("%s: COPYUID source %s not in B's view %v", c, src, f.uids)
					}
				}
			}
		})
	}

	// Two sessions at once: A expunges one message after another while B
	// fetches and searches; B never gets an error but EXPUNGEISSUED, and
	// never another message than the one it named.
	t.Run("Concurrent", func(t *testing.T) {
		f := setup(t)
		var wg sync.WaitGroup
		wg.Add(1)
		var aErr error
		go func() {
			defer wg.Done()
			for range 2 {
				if err := f.a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
					aErr = err
					return
				}
				if _, err := f.a.Expunge().Collect(); err != nil {
					aErr = err
					return
				}
			}
		}()
		for i := range 20 {
			tag := fmt.Sprint("c", i)
			for _, c := range []string{"FETCH 1:* (UID BODY.PEEK[TEXT]<0.64>)", "SEARCH TEXT conformance"} {
				lines := f.b.cmd(tag, c)
				if r := last(lines); !strings.HasPrefix(r, tag+" OK") && !strings.HasPrefix(r, tag+" NO [EXPUNGEISSUED]") {
					t.Errorf("%s while A expunges: %q", c, r)
				}
				f.fetched(t, lines) // B is told nothing: its view stays whole

			}
		}
		wg.Wait()
		if aErr != nil {
			t.Fatal(aErr)
		}
	})
}

// fetchSeqs lists the sequence numbers a FETCH row asks for, in a view of
// five messages.
func fetchSeqs(cmd string) []int {
	set := strings.Fields(cmd)[1]
	var out []int
	for _, r := range strings.Split(set, ",") {
		lo, hi, ok := strings.Cut(r, ":")
		if !ok {
			hi = lo
		}
		num := func(s string) int {
			if s == "*" {
				return 5
			}
			n, _ := strconv.Atoi(s)
			return n
		}
		for s := num(lo); s <= num(hi); s++ {
			out = append(out, s)
		}
	}
	return out
}

// TestSearchSkipsVanishedBlob: a message whose blob is gone under a
// SEARCH (its last reference expunged by another session meanwhile) is
// skipped, not a server error.
func TestSearchSkipsVanishedBlob(t *testing.T) {
	e := newEnv(t, "alice")
	var refs []string
	for i := range 3 {
		refs = append(refs, e.deliver(t, sampleMessage(fmt.Sprint("vanishing ", i), 6<<10)).ID)
	}
	l := dialRaw(t, e.addr)
	if r := last(l.cmd("l", "LOGIN alice "+imapQuoted(e.pass["alice"]))); !strings.HasPrefix(r, "l OK") {
		t.Fatalf("LOGIN: %q", r)
	}
	if r := last(l.cmd("s", "SELECT INBOX")); !strings.HasPrefix(r, "s OK") {
		t.Fatalf("SELECT: %q", r)
	}
	// The file goes, as a shred does, before the box hears of it.
	p := filepath.Join(e.dir, "blobs", refs[1])
	if err := os.Rename(p, p+".away"); err != nil {
		t.Fatal(err)
	}
	lines := l.cmd("x", "SEARCH TEXT vanishing")
	if err := os.Rename(p+".away", p); err != nil {
		t.Fatal(err)
	}
	if r := last(lines); !strings.HasPrefix(r, "x OK") {
		t.Fatalf("SEARCH with a blob gone: %q", r)
	}
	if lines[0] != "* SEARCH 1 3" {
		t.Errorf("SEARCH = %q, want 1 and 3", lines[0])
	}
}

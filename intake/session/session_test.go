package session

import (
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type secret struct {
	b     []byte
	wiped int
}

func (s *secret) Wipe() {
	clear(s.b)
	s.wiped++
}

func TestCreateGetEnd(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	st := New(Options{Idle: time.Hour, Now: c.now})
	data := &secret{b: []byte{1, 2, 3}}
	s, tok, err := st.Create(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 {
		t.Fatalf("token length %d", len(tok))
	}
	if got := st.Get(tok); got != s {
		t.Fatal("Get did not return the session")
	}
	if st.Get(tok[:42]+"A") == s && tok[42] != 'A' {
		t.Fatal("a different token found the session")
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 43), tok + "A", "!!!"} {
		if st.Get(bad) != nil {
			t.Fatalf("Get(%q) found a session", bad)
		}
	}
	st.End(s)
	if st.Get(tok) != nil {
		t.Fatal("ended session still found")
	}
	if data.wiped != 1 || data.b[0] != 0 {
		t.Fatalf("data not wiped: %+v", data)
	}
	st.End(s)
	if data.wiped != 1 {
		t.Fatal("wiped twice")
	}
}

func TestIdleExpiry(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	st := New(Options{Idle: time.Hour, Now: c.now})
	a := &secret{b: []byte{9}}
	_, tokA, _ := st.Create(a)
	b := &secret{b: []byte{9}}
	_, tokB, _ := st.Create(b)
	c.add(59 * time.Minute)
	if st.Get(tokA) == nil {
		t.Fatal("session expired early")
	}
	c.add(2 * time.Minute) // A was used 2 minutes ago, B 61 minutes ago
	if st.Get(tokA) == nil {
		t.Fatal("use did not extend the session")
	}
	if b.wiped != 1 {
		t.Fatal("the sweep did not wipe the idle session")
	}
	if st.Get(tokB) != nil {
		t.Fatal("idle session still usable")
	}
	c.add(61 * time.Minute)
	if st.Get(tokA) != nil || a.wiped != 1 {
		t.Fatal("idle session A not ended")
	}
	if st.Len() != 0 {
		t.Fatalf("%d sessions left", st.Len())
	}
}

func TestMax(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	st := New(Options{Idle: time.Hour, Max: 2, Now: c.now})
	st.Create(&secret{})
	st.Create(&secret{})
	d := &secret{b: []byte{1}}
	if _, _, err := st.Create(d); err != ErrFull {
		t.Fatalf("third session: %v", err)
	}
	if d.wiped != 1 {
		t.Fatal("refused session's data not wiped")
	}
	c.add(2 * time.Hour)
	if _, _, err := st.Create(&secret{}); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestCSRFAndSecret(t *testing.T) {
	st := New(Options{})
	s, _, _ := st.Create(nil)
	s2, _, _ := st.Create(nil)
	if s.CSRF() == s2.CSRF() || len(s.CSRF()) != 43 {
		t.Fatal("weak CSRF tokens")
	}
	if !s.CheckCSRF(s.CSRF()) || s.CheckCSRF(s2.CSRF()) || s.CheckCSRF("") || s.CheckCSRF(s.CSRF()[:42]) {
		t.Fatal("CheckCSRF wrong")
	}
	s.Lock()
	defer s.Unlock()
	if s.SecretMatches([]byte("")) || s.HasSecret() {
		t.Fatal("matched before RememberSecret")
	}
	s.RememberSecret([]byte("alpha beta"))
	if !s.SecretMatches([]byte("alpha beta")) || s.SecretMatches([]byte("alpha betb")) {
		t.Fatal("SecretMatches wrong")
	}
}

func TestForms(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	f := NewForms(time.Hour, c.now)
	tok := f.Token()
	if !f.Check(tok) {
		t.Fatal("fresh token refused")
	}
	if f.Token() == tok {
		t.Fatal("tokens repeat")
	}
	other := NewForms(time.Hour, c.now)
	if other.Check(tok) {
		t.Fatal("token of another server accepted")
	}
	b := []byte(tok)
	b[5] ^= 1
	if f.Check(string(b)) || f.Check("") || f.Check(tok[:20]) || f.Check(tok+"A") {
		t.Fatal("tampered token accepted")
	}
	c.add(61 * time.Minute)
	if f.Check(tok) {
		t.Fatal("expired token accepted")
	}
}

func FuzzForms(f *testing.F) {
	fm := NewForms(time.Hour, nil)
	f.Add(fm.Token())
	f.Add("")
	f.Add(strings.Repeat("A", 75))
	f.Fuzz(func(t *testing.T, v string) {
		fm.Check(v)
		st := New(Options{})
		if st.Get(v) != nil {
			t.Fatal("empty store found a session")
		}
	})
}

// A full table lets the session unused longest go once it has been silent
// for EvictAfter (a flood of abandoned sessions), never a recent one.
func TestFullTableEvictsLongUnused(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	st := New(Options{Idle: time.Hour, Max: 2, Now: c.now})
	old := &secret{b: []byte{1}}
	st.Create(old)
	c.add(time.Minute)
	_, recentTok, _ := st.Create(&secret{})
	c.add(EvictAfter - time.Minute) // old: EvictAfter, recent: less
	if _, _, err := st.Create(&secret{}); err != ErrFull {
		t.Fatalf("evicted a session silent for only %v: %v", EvictAfter, err)
	}
	c.add(2 * time.Minute)
	if _, _, err := st.Create(&secret{}); err != nil {
		t.Fatalf("no room made: %v", err)
	}
	if old.wiped != 1 {
		t.Fatal("the evicted session's data was not wiped")
	}
	if st.Get(recentTok) == nil {
		t.Fatal("the more recent session was evicted")
	}
}

// A held session (an upload in progress) neither expires nor is evicted.
func TestHeldSessionSurvives(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	st := New(Options{Idle: time.Hour, Max: 1, Now: c.now})
	s, tok, _ := st.Create(&secret{})
	release := st.Hold(s)
	c.add(3 * time.Hour)
	st.Sweep()
	if _, _, err := st.Create(&secret{}); err != ErrFull {
		t.Fatalf("a held session was evicted: %v", err)
	}
	release()
	if st.Get(tok) == nil {
		t.Fatal("a held session expired during its request")
	}
}

// A flood of new codenames cannot lock a returning source out: fresh
// sessions stop at Max-Reserve, and a login into a full table pushes out
// the fresh session unused longest, however recent.
func TestFloodOfFreshSessionsLeavesRoomForLogins(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	st := New(Options{Idle: time.Hour, Max: 10, Reserve: 2, Now: c.now})
	var first *secret
	for i := range 8 {
		d := &secret{}
		if i == 0 {
			first = d
		}
		if _, _, err := st.Create(d); err != nil {
			t.Fatalf("fresh session %d: %v", i, err)
		}
		c.add(time.Second)
	}
	if _, _, err := st.Create(&secret{}); err != ErrFull {
		t.Fatalf("a fresh session past Max-Reserve: %v", err)
	}
	for i := range 2 {
		if _, _, err := st.CreateOwned(&secret{}, []byte{byte(i)}); err != nil {
			t.Fatalf("login %d into the reserve: %v", i, err)
		}
	}
	// The table is full: a third returning source still gets in.
	if _, _, err := st.CreateOwned(&secret{}, []byte{9}); err != nil {
		t.Fatalf("login into a full table: %v", err)
	}
	if first.wiped != 1 || st.Len() != 10 {
		t.Fatalf("the oldest fresh session was not the one pushed out (wiped %d, len %d)", first.wiped, st.Len())
	}
	// A fresh session that sent something is owned, and frees fresh room.
	st2 := New(Options{Max: 3, Reserve: 1})
	s, _, _ := st2.Create(&secret{})
	st2.Create(&secret{})
	if _, _, err := st2.Create(&secret{}); err != ErrFull {
		t.Fatalf("fresh quota: %v", err)
	}
	st2.Claim(s, []byte{1})
	if _, _, err := st2.Create(&secret{}); err != nil {
		t.Fatalf("after a claim: %v", err)
	}
}

// One source logging in again and again keeps at most MaxPerOwner
// sessions: it cannot fill the room kept for the others.
func TestRepeatedLoginsOfOneSourceBounded(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	st := New(Options{Idle: time.Hour, Max: 100, MaxPerOwner: 3, Now: c.now})
	var toks []string
	for range 20 {
		_, tok, err := st.CreateOwned(&secret{}, []byte("one source"))
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
		c.add(time.Second)
	}
	if n := st.Len(); n != 3 {
		t.Fatalf("%d sessions of one source, want 3", n)
	}
	for _, tok := range toks[17:] {
		if st.Get(tok) == nil {
			t.Fatal("one of the most recent sessions was ended")
		}
	}
	if _, _, err := st.CreateOwned(&secret{}, []byte("another source")); err != nil || st.Len() != 4 {
		t.Fatalf("another source: %v, %d sessions", err, st.Len())
	}
}

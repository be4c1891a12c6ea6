package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"time"
)

// Forms issues and checks CSRF tokens for the two forms a source submits
// before having a session: "get a codename" and "log in". There is no
// session to bind them to and the design allows one cookie only, so a token
// is a MAC, under a secret made at start-up, over its issue time and a
// random nonce: it proves the form came from this server recently. It does
// not bind the form to one browser; that part (login CSRF) is carried by the
// Sec-Fetch-Site/Origin check the web layer applies to every POST.
//
// A token is single-use: Spend accepts it once. Otherwise one GET of the
// landing page would feed an unlimited flood of "I am new", each costing an
// argon2id derivation and a session. Issuing stays stateless (every page
// carries a token, and a flood of GETs must not grow memory); what is
// remembered is each spent nonce, in buckets by the minute its token was
// issued, until the token would have expired anyway. A token spent for a
// request answered "busy" before any derivation is refunded. That record is bounded
// by MaxSpent: when a flood of spends fills it, the oldest minute's bucket is
// dropped and every token issued in or before that minute is refused from
// then on (the floor), so a dropped record never makes a token spendable
// again. The cost of that bound falls on sources who kept a form open for
// longer than the flood took to fill the record: they get "the form expired,
// try again", and a fresh page works.
type Forms struct {
	key      [tokenLen]byte
	ttl      time.Duration
	now      func() time.Time
	maxSpent int

	mu     sync.Mutex                                // guards spent, nSpent, floor
	spent  map[int64]map[[formNonceLen]byte]struct{} // issue minute → spent nonces
	nSpent int
	floor  int64 // tokens issued in a minute below this are refused
}

const (
	formNonceLen = 16
	formMACLen   = 32
	formTokenLen = 8 + formNonceLen + formMACLen
	// formSkew tolerates a token issued slightly "in the future" by a clock
	// step; beyond it a token is forged.
	formSkew = time.Minute
	// DefaultMaxSpent bounds the spent-token record: about 40 bytes an
	// entry, so some 5 MiB at most. Spending needs a POST that passed the
	// form's checks; at the KDF pool's pace (a few derivations a second) it
	// takes hours to fill, longer than a token lives.
	DefaultMaxSpent = 1 << 17
)

// NewForms returns a token issuer whose tokens are valid for ttl, with the
// default bound on the spent-token record.
func NewForms(ttl time.Duration, now func() time.Time) *Forms {
	return newForms(ttl, now, DefaultMaxSpent)
}

func newForms(ttl time.Duration, now func() time.Time, maxSpent int) *Forms {
	if now == nil {
		now = time.Now
	}
	f := &Forms{ttl: ttl, now: now, maxSpent: maxSpent, spent: map[int64]map[[formNonceLen]byte]struct{}{}}
	rand.Read(f.key[:])
	return f
}

// Token returns a fresh form token.
func (f *Forms) Token() string {
	var b [formTokenLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(f.now().Unix()))
	rand.Read(b[8 : 8+formNonceLen])
	copy(b[8+formNonceLen:], f.mac(b[:8+formNonceLen]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Check reports whether v is a token this Forms issued within its lifetime
// and not yet spent. It spends nothing: call Spend when the form is acted on.
func (f *Forms) Check(v string) bool {
	issued, nonce, ok := f.parse(v)
	if !ok {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, spent := f.spent[issued/60][nonce]
	return !spent && issued/60 >= f.floor
}

// Spend accepts a valid token once: true the first time, false for a forged,
// expired or already spent one.
func (f *Forms) Spend(v string) bool {
	issued, nonce, ok := f.parse(v)
	if !ok {
		return false
	}
	minute := issued / 60
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked()
	if minute < f.floor {
		return false
	}
	b := f.spent[minute]
	if _, spent := b[nonce]; spent {
		return false
	}
	if b == nil {
		b = map[[formNonceLen]byte]struct{}{}
		f.spent[minute] = b
	}
	b[nonce] = struct{}{}
	f.nSpent++
	for f.nSpent > f.maxSpent {
		oldest := minute
		for m := range f.spent {
			oldest = min(oldest, m)
		}
		f.nSpent -= len(f.spent[oldest])
		delete(f.spent, oldest)
		f.floor = oldest + 1
	}
	return minute >= f.floor
}

// Refund un-spends v, spent by Spend for a request that was then refused
// before any work was done for it (the derivation pool was busy): the
// source may send the same form again, and a flood answered "busy" fills
// the spent record no faster than the pool derives. Without it every busy
// answer took a place in the record, so a flood of page loads and posts
// filled it within minutes, and the floor that followed refused the form of
// every source slower than that to type a codename.
func (f *Forms) Refund(v string) {
	issued, nonce, ok := f.parse(v)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.spent[issued/60]; b != nil {
		if _, spent := b[nonce]; spent {
			delete(b, nonce)
			f.nSpent--
		}
	}
}

// pruneLocked forgets the buckets whose tokens have all expired: Check
// refuses them by their issue time alone.
func (f *Forms) pruneLocked() {
	cutoff := f.now().Add(-f.ttl).Unix()/60 - 1
	for m, b := range f.spent {
		if m < cutoff {
			f.nSpent -= len(b)
			delete(f.spent, m)
		}
	}
}

// parse checks v's MAC and lifetime and returns its issue time (Unix
// seconds) and nonce.
func (f *Forms) parse(v string) (issued int64, nonce [formNonceLen]byte, ok bool) {
	if base64.RawURLEncoding.EncodedLen(formTokenLen) != len(v) {
		return 0, nonce, false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != formTokenLen {
		return 0, nonce, false
	}
	if !hmac.Equal(f.mac(b[:8+formNonceLen]), b[8+formNonceLen:]) {
		return 0, nonce, false
	}
	issued = int64(binary.BigEndian.Uint64(b[:8]))
	t := time.Unix(issued, 0)
	now := f.now()
	if t.After(now.Add(formSkew)) || now.Sub(t) > f.ttl {
		return 0, nonce, false
	}
	copy(nonce[:], b[8:8+formNonceLen])
	return issued, nonce, true
}

func (f *Forms) mac(msg []byte) []byte {
	m := hmac.New(sha256.New, f.key[:])
	m.Write([]byte("postern form token v1\x00"))
	m.Write(msg)
	return m.Sum(nil)
}

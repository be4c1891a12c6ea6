package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Forms issues and checks CSRF tokens for the two forms a source submits
// before having a session: "get a codename" and "log in". There is no
// session to bind them to and the design allows one cookie only, so a token
// is a MAC, under a secret made at start-up, over its issue time and a
// random nonce: it proves the form came from this server recently. It does
// not bind the form to one browser; that part (login CSRF) is carried by the
// Sec-Fetch-Site/Origin check the web layer applies to every POST.
type Forms struct {
	key [tokenLen]byte
	ttl time.Duration
	now func() time.Time
}

const (
	formNonceLen = 16
	formMACLen   = 32
	formTokenLen = 8 + formNonceLen + formMACLen
	// formSkew tolerates a token issued slightly "in the future" by a clock
	// step; beyond it a token is forged.
	formSkew = time.Minute
)

// NewForms returns a token issuer whose tokens are valid for ttl.
func NewForms(ttl time.Duration, now func() time.Time) *Forms {
	if now == nil {
		now = time.Now
	}
	f := &Forms{ttl: ttl, now: now}
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

// Check reports whether v is a token this Forms issued within its lifetime.
func (f *Forms) Check(v string) bool {
	if base64.RawURLEncoding.EncodedLen(formTokenLen) != len(v) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != formTokenLen {
		return false
	}
	if !hmac.Equal(f.mac(b[:8+formNonceLen]), b[8+formNonceLen:]) {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	now := f.now()
	return !issued.After(now.Add(formSkew)) && now.Sub(issued) <= f.ttl
}

func (f *Forms) mac(msg []byte) []byte {
	m := hmac.New(sha256.New, f.key[:])
	m.Write([]byte("postern form token v1\x00"))
	m.Write(msg)
	return m.Sum(nil)
}

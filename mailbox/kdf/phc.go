package kdf

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrPHC means a stored password hash is not a PHC string this package
// wrote: wrong algorithm or version, bad encoding, or parameters out of range.
var ErrPHC = errors.New("kdf: malformed password hash")

const (
	phcSaltLen = 16
	phcHashLen = 32
	// maxPHCLen bounds the input before any parsing work.
	maxPHCLen = 256
)

// b64 is the PHC alphabet: standard base64, no padding, and canonical only
// (non-zero trailing bits are refused, so one hash has one spelling).
func b64() *base64.Encoding { return base64.RawStdEncoding.Strict() }

// phc is a parsed password hash.
type phc struct {
	params Params
	salt   []byte
	hash   []byte
}

func (h phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		19, h.params.MemoryKiB, h.params.Time, h.params.Threads,
		b64().EncodeToString(h.salt), b64().EncodeToString(h.hash))
}

// HashPassword hashes pass with argon2id and a fresh 16-byte salt and returns
// a PHC string: $argon2id$v=19$m=65536,t=3,p=1$<salt>$<hash>, base64 without
// padding. It runs on the pool, so it can fail with ErrBusy.
func (p *Pool) HashPassword(ctx context.Context, pass string, pr Params) (string, error) {
	if pass == "" {
		return "", fmt.Errorf("%w: empty password", ErrParams)
	}
	salt := make([]byte, phcSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("kdf: salt: %w", err)
	}
	hash, err := p.Key(ctx, []byte(pass), salt, pr, phcHashLen)
	if err != nil {
		return "", err
	}
	return phc{params: pr, salt: salt, hash: hash}.String(), nil
}

// VerifyPassword reports whether pass matches the PHC string. A malformed or
// out-of-range hash is an error (ErrPHC), never a match; a wrong password is
// (false, nil). The comparison is constant time.
func (p *Pool) VerifyPassword(ctx context.Context, pass, stored string) (bool, error) {
	h, err := parsePHC(stored)
	if err != nil {
		return false, err
	}
	got, err := p.Key(ctx, []byte(pass), h.salt, h.params, len(h.hash))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, h.hash) == 1, nil
}

// parsePHC parses an argon2id PHC string strictly: only the exact canonical
// form HashPassword writes (field order m,t,p, decimal without leading zeros,
// unpadded canonical base64), with every value inside the package bounds.
// A stored hash is trusted data, but a corrupted or planted one must not be
// able to ask for a 4 TiB derivation.
func parsePHC(s string) (phc, error) {
	if len(s) > maxPHCLen {
		return phc{}, fmt.Errorf("%w: too long", ErrPHC)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return phc{}, fmt.Errorf("%w: wrong field count", ErrPHC)
	}
	if f[1] != "argon2id" {
		return phc{}, fmt.Errorf("%w: not argon2id", ErrPHC)
	}
	if f[2] != "v=19" {
		return phc{}, fmt.Errorf("%w: unsupported version", ErrPHC)
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return phc{}, fmt.Errorf("%w: parameters", ErrPHC)
	}
	var vals [3]uint64
	for i, name := range [3]string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return phc{}, fmt.Errorf("%w: parameters", ErrPHC)
		}
		n, err := parseDecimal(v)
		if err != nil {
			return phc{}, err
		}
		vals[i] = n
	}
	if vals[0] > MaxMemoryKiB || vals[1] > MaxTime || vals[2] > MaxThreads {
		return phc{}, fmt.Errorf("%w: parameters out of range", ErrPHC)
	}
	h := phc{params: Params{MemoryKiB: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}}
	if err := h.params.Validate(); err != nil {
		return phc{}, fmt.Errorf("%w: %v", ErrPHC, err)
	}
	var err error
	if h.salt, err = decodeB64(f[4]); err != nil {
		return phc{}, fmt.Errorf("%w: salt encoding", ErrPHC)
	}
	if len(h.salt) < MinSaltLen || len(h.salt) > MaxSaltLen {
		return phc{}, fmt.Errorf("%w: salt length", ErrPHC)
	}
	if h.hash, err = decodeB64(f[5]); err != nil {
		return phc{}, fmt.Errorf("%w: hash encoding", ErrPHC)
	}
	if len(h.hash) < MinKeyLen || len(h.hash) > MaxKeyLen {
		return phc{}, fmt.Errorf("%w: hash length", ErrPHC)
	}
	return h, nil
}

// decodeB64 decodes canonical unpadded base64. The decoder skips CR and LF
// even in strict mode, so the round trip is what enforces one spelling.
func decodeB64(s string) ([]byte, error) {
	b, err := b64().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if b64().EncodeToString(b) != s {
		return nil, errors.New("non-canonical base64")
	}
	return b, nil
}

// parseDecimal accepts only canonical decimal: digits, no sign, no leading
// zero, at most 10 digits.
func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: number", ErrPHC)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: number", ErrPHC)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: number", ErrPHC)
	}
	return n, nil
}

package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// ErrManifest means a batch's manifest is missing, damaged or altered: none of
// the batch can be trusted.
var ErrManifest = errors.New("transfer: manifest missing, damaged or altered")

// ErrCopy means one message's copy differs from what the manifest says.
var ErrCopy = errors.New("transfer: copy truncated or altered")

// maxManifest bounds a manifest (a few hundred bytes an entry).
const maxManifest = 64 << 20

var entryName = regexp.MustCompile(`^(INBOX|Sent)-[0-9]{1,10}-[0-9]{1,10}\.eml$`)

// ReadManifest reads a batch's manifest after checking it against its own
// sum, and checks that every entry names a file of this batch.
func ReadManifest(batch string) (Manifest, error) {
	var m Manifest
	b, err := readLimited(filepath.Join(batch, ManifestFile), maxManifest)
	if err != nil {
		return m, fmt.Errorf("%w: %v (an interrupted export?)", ErrManifest, err)
	}
	sumLine, err := readLimited(filepath.Join(batch, ManifestSum), 4096)
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	want, _, _ := bytes.Cut(bytes.TrimSpace(sumLine), []byte(" "))
	got := sha256.Sum256(b)
	if string(want) != hex.EncodeToString(got[:]) {
		return m, fmt.Errorf("%w: its SHA-256 does not match %s", ErrManifest, ManifestSum)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	for _, e := range m.Messages {
		if !entryName.MatchString(e.Name) || e.Name != fmt.Sprintf("%s-%d-%d.eml", e.Mailbox, e.UIDValidity, e.UID) ||
			len(e.SHA256) != 64 || e.Size < 0 {
			return m, fmt.Errorf("%w: bad entry %q", ErrManifest, clip(e.Name))
		}
	}
	return m, nil
}

// Check reads a message's copy and compares its size and SHA-256 with the
// manifest's.
func Check(batch string, e Entry) error {
	f, err := os.Open(filepath.Join(batch, e.Name))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCopy, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCopy, err)
	}
	if fi.Size() != e.Size {
		return fmt.Errorf("%w: %d bytes instead of %d", ErrCopy, fi.Size(), e.Size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%w: %v", ErrCopy, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		return fmt.Errorf("%w: SHA-256 differs", ErrCopy)
	}
	return nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is too large", filepath.Base(path))
	}
	return b, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Copy reads a message's copy while hashing it; Close reads what is left and
// reports a copy that differs from the manifest (ErrCopy).
type Copy struct {
	f    *os.File
	r    io.Reader
	h    hash.Hash
	want string
}

// OpenCopy opens a message's copy after checking its size.
func OpenCopy(batch string, e Entry) (*Copy, error) {
	f, err := os.Open(filepath.Join(batch, e.Name))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCopy, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrCopy, err)
	}
	if fi.Size() != e.Size {
		f.Close()
		return nil, fmt.Errorf("%w: %d bytes instead of %d", ErrCopy, fi.Size(), e.Size)
	}
	h := sha256.New()
	return &Copy{f: f, r: io.TeeReader(f, h), h: h, want: e.SHA256}, nil
}

func (c *Copy) Read(p []byte) (int, error) { return c.r.Read(p) }

// Close reads the copy to its end and compares its SHA-256.
func (c *Copy) Close() error {
	defer c.f.Close()
	if _, err := io.Copy(io.Discard, c.r); err != nil {
		return fmt.Errorf("%w: %v", ErrCopy, err)
	}
	if hex.EncodeToString(c.h.Sum(nil)) != c.want {
		return fmt.Errorf("%w: SHA-256 differs", ErrCopy)
	}
	return nil
}

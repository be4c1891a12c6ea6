// Package backup writes and restores a Postern instance as one archive: a tar
// stream holding a consistent copy of the database, the blob files that copy
// references, the onion service keys, the instance's identity key and
// postern.conf, then a manifest of SHA-256 sums and, last, the instance's
// Ed25519 signature of that manifest (relay/identity). The admin commands wrap
// it in OpenPGP encryption to the admin's key (relay backup) and unwrap it
// (relay restore).
//
// Why a signature, and why inside the encryption: the encryption is to the
// admin's public key, which anyone may hold, and its integrity packet and the
// manifest's sums are unkeyed, so without a signature anyone could build a
// backup that restores cleanly (their own journalists, settings and torrc
// lines). The manifest lists every other entry in order with its size and
// SHA-256, so signing it covers the whole archive: a changed, dropped, added,
// reordered or truncated entry, or another instance's archive, fails. The
// signature sits inside the tar, not around the OpenPGP message: it is
// checked the same way whether restore decrypts or gpg did (--plain), and a
// backup file shows nobody without the admin's key which instance it is from.
//
// The archive is taken while the relay runs: the database is copied inside one
// bbolt read transaction (store.Snapshot), and no blob file is shredded until the
// copy is finished, so the archive is a state the relay really was in: every
// delivery committed before the snapshot began is there, none is half there.
//
// Restore trusts nothing it has not checked. It extracts into a fresh directory
// next to the target, checks every file against the manifest (and the manifest
// against the files), opens the restored store and runs its integrity check, and
// only then renames the directory into place. A corrupt, truncated, reordered or
// wrongly keyed archive leaves the target as it was.
package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"postern/mailbox/store"
	"postern/relay/identity"
)

// Format is the archive layout version written into the header and manifest:
// 2 is signed. FormatUnsigned archives (made before instances had identity
// keys) are read only when the caller accepts an unsigned archive.
const (
	Format         = 2
	FormatUnsigned = 1
)

// Names of the fixed entries.
const (
	HeaderName    = "postern-backup.json" // first entry
	ManifestName  = "MANIFEST.json"       // after every file
	SignatureName = "MANIFEST.sig"        // last entry: Ed25519 signature of the manifest's bytes
	DBName        = "postern.db"
	BlobDir       = "blobs"
)

// SignaturePurpose labels what the instance key signs in an archive.
const SignaturePurpose = "backup manifest v2"

// ErrArchive means the archive is damaged, truncated, not a Postern backup or
// does not match its manifest.
var ErrArchive = errors.New("backup: archive is damaged or not a Postern backup")

// Header is the first entry: what the archive is.
type Header struct {
	Format  int    `json:"format"`
	Created string `json:"created"` // UTC day
	Blobs   int    `json:"blobs"`
	Bytes   int64  `json:"bytes"` // payload bytes of every file but the manifest
}

// Entry is one file of the archive as the manifest lists it.
type Entry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest follows every file: every other file with its size and SHA-256,
// and the fingerprint of the instance whose signature follows it.
type Manifest struct {
	Format   int    `json:"format"`
	Created  string `json:"created"`
	Instance string `json:"instance,omitempty"` // "" in an unsigned (format 1) archive
	// Serial numbers the instance's backups: it grows with each one, so a
	// restore can tell an older backup from a newer one made the same day.
	// 0 in archives made before it existed.
	Serial uint64  `json:"serial,omitempty"`
	Files  []Entry `json:"files"`
}

// File is a small file of the data directory copied as it is (postern.conf,
// onion keys). Path is relative to the data directory, with "/" separators.
type File struct {
	Path string
	Data []byte
}

// Plan says how big an archive will be, for progress displays.
type Plan struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"` // approximate size of the tar stream
}

// Snapshot is what Write reads: *store.Snapshot.
type Snapshot interface {
	DBSize() int64
	WriteDB(w io.Writer) (int64, error)
	Blobs() []store.BlobRef
	OpenBlob(id string) (io.ReadCloser, error)
}

// StoreSnapshot adapts *store.Snapshot to Snapshot.
type StoreSnapshot struct{ *store.Snapshot }

// OpenBlob implements Snapshot.
func (s StoreSnapshot) OpenBlob(id string) (io.ReadCloser, error) { return s.Snapshot.OpenBlob(id) }

// PlanOf computes the Plan of an archive of sn and extra.
func PlanOf(sn Snapshot, extra []File) Plan {
	p := Plan{Files: 4 + len(extra)} // header, database, manifest, signature
	add := func(size int64) { p.Bytes += 512 + (size+511)/512*512 }
	add(256)
	add(64)
	add(sn.DBSize())
	for _, b := range sn.Blobs() {
		p.Files++
		add(b.Size)
	}
	for _, f := range extra {
		add(int64(len(f.Data)))
	}
	add(int64(128 * p.Files)) // manifest, roughly
	p.Bytes += 1024
	return p
}

// WriteOptions say what goes into an archive besides the snapshot.
type WriteOptions struct {
	// Extra are the small files of the data directory (postern.conf, onion
	// keys, the identity key).
	Extra []File
	// Now gives the day recorded in the header (file times in the archive are
	// all zero, so it says nothing about when anything was written).
	Now time.Time
	// Key is the instance's identity key; it signs the manifest. Required.
	Key identity.Key
	// Serial is this backup's number (store.NextBackupSerial).
	Serial uint64
}

// Write streams the signed archive of sn plus o.Extra to w.
func Write(ctx context.Context, w io.Writer, sn Snapshot, o WriteOptions) (Manifest, error) {
	if o.Key.IsZero() {
		return Manifest{}, errors.New("backup: no instance key to sign with")
	}
	extra := o.Extra
	day := o.Now.UTC().Format(time.DateOnly)
	blobs := sn.Blobs()
	hdr := Header{Format: Format, Created: day, Blobs: len(blobs), Bytes: sn.DBSize()}
	for _, b := range blobs {
		hdr.Bytes += b.Size
	}
	for _, f := range extra {
		hdr.Bytes += int64(len(f.Data))
	}
	m := Manifest{Format: Format, Created: day, Instance: o.Key.Fingerprint().String(), Serial: o.Serial}
	tw := tar.NewWriter(w)
	put := func(path string, size int64, fill func(io.Writer) error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := tw.WriteHeader(tarHeader(path, size)); err != nil {
			return err
		}
		h := sha256.New()
		cw := &countWriter{w: io.MultiWriter(tw, h)}
		if err := fill(cw); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if cw.n != size {
			return fmt.Errorf("%s: wrote %d bytes, expected %d", path, cw.n, size)
		}
		m.Files = append(m.Files, Entry{Path: path, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	}
	putBytes := func(path string, data []byte) error {
		return put(path, int64(len(data)), func(w io.Writer) error { _, err := w.Write(data); return err })
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		return Manifest{}, err
	}
	if err := putBytes(HeaderName, hb); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := put(DBName, sn.DBSize(), func(w io.Writer) error { _, err := sn.WriteDB(w); return err }); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	for _, b := range blobs {
		err := put(BlobDir+"/"+b.ID, b.Size, func(w io.Writer) error {
			f, err := sn.OpenBlob(b.ID)
			if err != nil {
				return err
			}
			defer f.Close()
			n, err := io.Copy(w, &ctxReader{ctx: ctx, r: io.LimitReader(f, b.Size)})
			if err == nil && n != b.Size {
				err = fmt.Errorf("blob file is %d bytes, its record says %d (run relay check)", n, b.Size)
			}
			return err
		})
		if err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
	}
	for _, f := range extra {
		if err := checkPath(f.Path); err != nil || reserved(f.Path) {
			return Manifest{}, fmt.Errorf("backup: bad extra file name %q", f.Path)
		}
		if err := putBytes(f.Path, f.Data); err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
	}
	mb, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return Manifest{}, err
	}
	if err := tw.WriteHeader(tarHeader(ManifestName, int64(len(mb)))); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(mb); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	sig := o.Key.Sign(SignaturePurpose, mb)
	if err := tw.WriteHeader(tarHeader(SignatureName, int64(len(sig)))); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(sig); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := tw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

func reserved(path string) bool {
	return path == HeaderName || path == ManifestName || path == SignatureName || path == DBName || len(path) > len(BlobDir) && path[:len(BlobDir)+1] == BlobDir+"/"
}

func tarHeader(path string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: path, Size: size, Mode: 0o600,
		ModTime: time.Unix(0, 0)}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// hashingWriter is where Extract writes a file: to disk and into the hash.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
}

func (hw hashingWriter) Write(p []byte) (int, error) {
	hw.h.Write(p)
	return hw.w.Write(p)
}

package backup

import (
	"archive/tar"
	"bytes"
	"context"
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
	"strings"
	"syscall"
	"time"

	"postern/mailbox/store"
	"postern/relay/identity"
)

// maxSmall bounds the header and manifest entries, read into memory.
const maxSmall = 64 << 20

// pathRE is what a file name inside an archive may look like: relative, plain
// characters, at most four levels. Anything else (absolute paths, "..", odd
// bytes) is refused before it can name a place outside the restore directory.
var pathRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9._-]{0,127}){0,3}$`)

func checkPath(p string) error {
	if !pathRE.MatchString(p) {
		return fmt.Errorf("%w: unexpected file name %q in the archive", ErrArchive, clip(p))
	}
	for _, part := range strings.Split(p, "/") {
		if part == "." || part == ".." || strings.Trim(part, ".") == "" {
			return fmt.Errorf("%w: unexpected file name %q in the archive", ErrArchive, clip(p))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// ErrSignature means the archive is not signed by the instance the caller
// trusts: signed by another, its signature fails (altered or forged), or it is
// not signed at all.
var ErrSignature = errors.New("backup: not signed by the expected instance")

// ExtractOptions tune Extract.
type ExtractOptions struct {
	// Progress, if set, is called with the number of archive bytes read so far.
	Progress func(read int64)
	// Instance is the instance whose signature the archive must carry.
	Instance identity.Fingerprint
	// AnyInstance accepts a signature by whichever instance made the archive
	// (it must still verify, with the key the archive carries): for `relay
	// backup` checking what it just wrote, and restore --trust-any-instance.
	AnyInstance bool
	// Unsigned also accepts a format 1 archive, which has no signature
	// (restore --trust-any-instance of a backup made before signing existed).
	Unsigned bool
}

// Extract reads an archive from r into dir, which must exist and be empty, and
// verifies it: the header comes first, every file is a plain file with a safe
// name that appears once, the manifest comes after the files and lists exactly
// the files read with their sizes and SHA-256 sums, the signature of the
// instance o names follows it, and nothing but tar padding follows that.
// r is read to its end (for an OpenPGP stream, that is when its integrity check
// runs). On error dir holds a partial, unusable copy: the caller removes it.
func Extract(ctx context.Context, r io.Reader, dir string, o ExtractOptions) (Manifest, error) {
	cr := &countReader{r: r, progress: o.Progress}
	tr := tar.NewReader(&ctxReader{ctx: ctx, r: cr})
	seen := map[string]Entry{}
	var order []string
	var hdr Header
	var man Manifest
	var manBytes, sig []byte
	var carried *identity.Fingerprint // the identity key in the archive
	gotManifest, gotSig := false, false
	for i := 0; ; i++ {
		th, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, archiveErr(ctx, err)
		}
		if gotSig || gotManifest && (hdr.Format == FormatUnsigned || th.Name != SignatureName) {
			return Manifest{}, fmt.Errorf("%w: files after the manifest", ErrArchive)
		}
		if th.Typeflag != tar.TypeReg {
			return Manifest{}, fmt.Errorf("%w: %q is not a plain file", ErrArchive, clip(th.Name))
		}
		if err := checkPath(th.Name); err != nil {
			return Manifest{}, err
		}
		if th.Size < 0 {
			return Manifest{}, fmt.Errorf("%w: negative size", ErrArchive)
		}
		if _, dup := seen[th.Name]; dup || (th.Name == ManifestName || th.Name == SignatureName) && i == 0 ||
			th.Name == SignatureName && !gotManifest {
			return Manifest{}, fmt.Errorf("%w: %q appears twice or out of place", ErrArchive, clip(th.Name))
		}
		switch {
		case i == 0:
			if th.Name != HeaderName || th.Size > maxSmall {
				return Manifest{}, fmt.Errorf("%w: it does not start with a Postern backup header", ErrArchive)
			}
			b, e, err := readSmall(tr, th)
			if err != nil {
				return Manifest{}, archiveErr(ctx, err)
			}
			if err := json.Unmarshal(b, &hdr); err != nil {
				return Manifest{}, fmt.Errorf("%w: header: %v", ErrArchive, err)
			}
			switch {
			case hdr.Format == FormatUnsigned && !o.Unsigned:
				return Manifest{}, fmt.Errorf("%w: the backup is not signed (made before backups were signed); "+
					"only --trust-any-instance restores it, and only if you know where it comes from", ErrSignature)
			case hdr.Format != Format && hdr.Format != FormatUnsigned:
				return Manifest{}, fmt.Errorf("%w: backup format %d, this relay reads %d", ErrArchive, hdr.Format, Format)
			}
			if err := writeFile(dir, th.Name, bytes.NewReader(b), th.Size, sha256.New()); err != nil {
				return Manifest{}, archiveErr(ctx, err)
			}
			seen[th.Name], order = e, append(order, th.Name)
		case th.Name == ManifestName:
			if th.Size > maxSmall {
				return Manifest{}, fmt.Errorf("%w: manifest too large", ErrArchive)
			}
			b, _, err := readSmall(tr, th)
			if err != nil {
				return Manifest{}, archiveErr(ctx, err)
			}
			if err := json.Unmarshal(b, &man); err != nil {
				return Manifest{}, fmt.Errorf("%w: manifest: %v", ErrArchive, err)
			}
			manBytes, gotManifest = b, true
		case th.Name == SignatureName:
			if th.Size > 1024 {
				return Manifest{}, fmt.Errorf("%w: signature too large", ErrArchive)
			}
			if sig, _, err = readSmall(tr, th); err != nil {
				return Manifest{}, archiveErr(ctx, err)
			}
			gotSig = true
		case th.Name == identity.FileName:
			if th.Size > maxSmall {
				return Manifest{}, fmt.Errorf("%w: identity key too large", ErrArchive)
			}
			b, e, err := readSmall(tr, th)
			if err != nil {
				return Manifest{}, archiveErr(ctx, err)
			}
			k, err := identity.Parse(b)
			if err != nil {
				clear(b)
				return Manifest{}, fmt.Errorf("%w: the instance key in the archive: %v", ErrArchive, err)
			}
			f := k.Fingerprint()
			carried = &f
			err = writeFile(dir, th.Name, bytes.NewReader(b), th.Size, sha256.New())
			clear(b)
			if err != nil {
				return Manifest{}, archiveErr(ctx, err)
			}
			seen[th.Name], order = e, append(order, th.Name)
		default:
			h := sha256.New()
			if err := writeFile(dir, th.Name, tr, th.Size, h); err != nil {
				return Manifest{}, archiveErr(ctx, err)
			}
			e := Entry{Path: th.Name, Size: th.Size, SHA256: hex.EncodeToString(h.Sum(nil))}
			seen[th.Name], order = e, append(order, th.Name)
		}
	}
	// Read to the end: tar stops at its end marker, but the integrity check of
	// an encrypted stream runs at the end of the stream.
	if _, err := io.Copy(io.Discard, &ctxReader{ctx: ctx, r: cr}); err != nil {
		return Manifest{}, archiveErr(ctx, err)
	}
	if !gotManifest {
		return Manifest{}, fmt.Errorf("%w: the manifest is missing (truncated archive?)", ErrArchive)
	}
	if man.Format != hdr.Format {
		return Manifest{}, fmt.Errorf("%w: the manifest is of format %d, the header of %d", ErrArchive, man.Format, hdr.Format)
	}
	if hdr.Format == FormatUnsigned {
		man.Instance = "" // nothing vouches for it
	} else if err := checkSignature(man, manBytes, sig, gotSig, carried, o); err != nil {
		return Manifest{}, err
	}
	if len(man.Files) != len(order) {
		return Manifest{}, fmt.Errorf("%w: the manifest lists %d files, the archive holds %d", ErrArchive, len(man.Files), len(order))
	}
	for i, e := range man.Files {
		if order[i] != e.Path || seen[e.Path] != e {
			return Manifest{}, fmt.Errorf("%w: %s does not match its manifest entry (corrupted?)", ErrArchive, clip(e.Path))
		}
	}
	if _, ok := seen[DBName]; !ok {
		return Manifest{}, fmt.Errorf("%w: no database in the archive", ErrArchive)
	}
	return man, nil
}

// checkSignature checks the manifest's signature: by the instance o trusts,
// valid for these exact bytes, and by the key the archive carries (else the
// restored instance would sign its next backups as someone else).
func checkSignature(man Manifest, manBytes, sig []byte, gotSig bool, carried *identity.Fingerprint, o ExtractOptions) error {
	if !gotSig {
		return fmt.Errorf("%w: the signature is missing (truncated archive?)", ErrArchive)
	}
	signer, err := identity.ParseFingerprint(man.Instance)
	if err != nil {
		return fmt.Errorf("%w: the manifest names no valid instance", ErrArchive)
	}
	if !o.AnyInstance && signer != o.Instance {
		return fmt.Errorf("%w: this backup comes from instance %s, not %s", ErrSignature, signer, o.Instance)
	}
	if !identity.Verify(signer, SignaturePurpose, manBytes, sig) {
		return fmt.Errorf("%w: the signature of instance %s does not verify: the backup was altered or forged", ErrSignature, signer)
	}
	if carried == nil || *carried != signer {
		return fmt.Errorf("%w: the archive does not carry the identity key of the instance that signed it", ErrSignature)
	}
	return nil
}

// Verify reads a whole archive from r and checks it as Extract does, without
// writing anything: `relay backup` runs it on the stream it encrypts, so an
// archive cut short by a failing relay is never left behind as a backup.
func Verify(ctx context.Context, r io.Reader, o ExtractOptions) (Manifest, error) {
	return Extract(ctx, r, "", o)
}

// archiveErr names a read failure: a cut-off stream is the common case.
func archiveErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, ErrArchive) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: it ends too early (truncated?)", ErrArchive)
	}
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, os.ErrExist) || errors.Is(err, syscall.EISDIR) {
		// A file where the archive later wants a directory, or the reverse.
		return fmt.Errorf("%w: conflicting file names", ErrArchive)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("backup: restore: %w", err)
	}
	return fmt.Errorf("%w: %v", ErrArchive, err)
}

func readSmall(tr *tar.Reader, th *tar.Header) ([]byte, Entry, error) {
	b, err := io.ReadAll(io.LimitReader(tr, th.Size))
	if err != nil {
		return nil, Entry{}, err
	}
	if int64(len(b)) != th.Size {
		return nil, Entry{}, io.ErrUnexpectedEOF
	}
	sum := sha256.Sum256(b)
	return b, Entry{Path: th.Name, Size: th.Size, SHA256: hex.EncodeToString(sum[:])}, nil
}

// writeFile creates dir/name (0600, directories 0700) from r, exactly size bytes.
// With dir "" the file is only hashed (Verify).
func writeFile(dir, name string, r io.Reader, size int64, h hash.Hash) error {
	if dir == "" {
		n, err := io.Copy(h, io.LimitReader(r, size))
		if err == nil && n != size {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(hashingWriter{w: f, h: h}, io.LimitReader(r, size))
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type countReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.n)
	}
	return n, err
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	ExtractOptions
	// Check, if set, runs on the extracted directory before it is moved into
	// place (the admin layer opens the instance there to be sure it is one).
	Check func(dir string) error
}

// ErrTarget means the restore target is not an empty or absent directory.
var ErrTarget = errors.New("backup: restore target must be an empty or absent directory")

// Restore extracts and verifies the archive from r into target, which must be
// absent or an empty directory. It works in a new directory next to target and
// renames it into place only when everything checked out: the archive against
// its manifest, then the store's own integrity check, then opts.Check. On any
// failure the partial copy is overwritten and removed and target is untouched.
func Restore(ctx context.Context, r io.Reader, target string, o RestoreOptions) (Manifest, error) {
	target = filepath.Clean(target)
	if err := CheckTarget(target); err != nil {
		return Manifest{}, err
	}
	parent, base := filepath.Dir(target), filepath.Base(target)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("backup: restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".restore-")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: restore: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			shredTree(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o700); err != nil {
		return Manifest{}, fmt.Errorf("backup: restore: %w", err)
	}
	man, err := Extract(ctx, r, tmp, o.ExtractOptions)
	if err != nil {
		return Manifest{}, err
	}
	// The header only describes the archive; it is not part of the instance.
	if err := os.Remove(filepath.Join(tmp, HeaderName)); err != nil {
		return Manifest{}, fmt.Errorf("backup: restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, BlobDir), 0o700); err != nil {
		return Manifest{}, fmt.Errorf("backup: restore: %w", err)
	}
	st, err := store.Open(tmp, store.Options{})
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: the restored database does not open: %v", ErrArchive, err)
	}
	cerr := st.Check()
	st.Close()
	if cerr != nil {
		return Manifest{}, fmt.Errorf("%w: the restored instance fails its integrity check: %v", ErrArchive, cerr)
	}
	if o.Check != nil {
		if err := o.Check(tmp); err != nil {
			return Manifest{}, err
		}
	}
	if err := CheckTarget(target); err != nil { // it may have changed meanwhile
		return Manifest{}, err
	}
	_ = store.DayTree(tmp, time.Now()) // file times are days (mailbox/store/filetime.go)
	if err := os.Rename(tmp, target); err != nil {
		return Manifest{}, fmt.Errorf("backup: restore: moving the restored instance into place: %w", err)
	}
	ok = true
	if d, err := os.Open(parent); err == nil {
		d.Sync()
		d.Close()
	}
	return man, nil
}

// CheckTarget accepts an absent path or an empty directory.
func CheckTarget(target string) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrTarget, target)
	}
	entries, err := os.ReadDir(target)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: %s is not empty", ErrTarget, target)
	}
	return nil
}

// shredTree overwrites and removes every file under dir, then dir: a failed
// restore must not leave a readable copy of the database behind.
func shredTree(dir string) {
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
				if fi, err := f.Stat(); err == nil {
					zeros := make([]byte, 64<<10)
					for left := fi.Size(); left > 0; {
						n := min(left, int64(len(zeros)))
						if _, err := f.Write(zeros[:n]); err != nil {
							break
						}
						left -= n
					}
					f.Sync()
				}
				f.Close()
			}
		}
		return nil
	})
	os.RemoveAll(dir)
}

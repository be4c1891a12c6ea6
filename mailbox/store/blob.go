package store

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Blob files live flat in blobs/, named by 32 lower-case hex digits. Temp files
// (renamed away to be shredded, or left by an older version mid-write) start with tmpPrefix.
const (
	blobIDLen = 32
	tmpPrefix = ".tmp-"
	// blobBufSize is each BlobWriter's write buffer.
	blobBufSize = 64 << 10
)

// validBlobID accepts only the names NewBlob makes, so an id from a caller can never
// walk out of blobs/.
func validBlobID(id string) bool {
	if len(id) != blobIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func newBlobID() (string, error) {
	b := make([]byte, blobIDLen/2)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// BlobWriter writes one blob. Commit makes it durable; Abort (safe to
// defer, a no-op after Commit) removes it. A BlobWriter is for one
// goroutine.
//
// The file is created under its final name at once, and the directory
// entry is fsynced in the background while the caller writes the data;
// Commit fsyncs the file and waits for that. An APPEND used to pay four
// fsyncs one after the other (file, blobs/ after a rename, bbolt's two);
// the directory's now overlaps with receiving and sealing the message.
//
// Crash argument: a record may reference a blob only once both its name
// and its data are durable. Commit returns only after the directory fsync
// (which made the entry durable, the file then empty or partial) and the
// file's fsync (its data and size) have both succeeded, and callers commit
// the referencing record after Commit. A crash at any earlier point leaves
// a file under a final name that no record references; Open removes
// exactly those (collectBlobs), as it removed a renamed blob whose record
// never committed. While being written the name is in s.temps, so Check
// does not call it stray.
type BlobWriter struct {
	s *Store
	f *os.File
	// buf gathers small writes: OpenPGP armor writes a 64-byte line at a
	// time, which unbuffered was a system call each (measured: 5 of 8.5 s
	// CPU when APPEND seals a realistic mix of messages).
	buf     *bufio.Writer
	id      string     // the file's (final) name in blobs/
	dirSync chan error // the directory fsync's result, sent once
	size    int64
	done    bool
}

// NewBlob starts a blob: a spare file when one is ready (spare.go), else
// a new file whose directory entry is fsynced in the background.
func (s *Store) NewBlob() (*BlobWriter, error) {
	s.blobMu.Lock()
	sp, ok := s.takeSpare()
	s.blobMu.Unlock()
	if ok && !s.spareInPlace(sp) {
		ok = false
	}
	dirSync := make(chan error, 1)
	if ok {
		dirSync <- nil // made durable before it became a spare
	} else {
		var err error
		if sp, err = s.createBlobFile(false); err != nil {
			return nil, fmt.Errorf("store: new blob: %w", err)
		}
		go func() { dirSync <- syncDir(s.blobs) }()
	}
	buf, ok := s.blobBufs.Get().(*bufio.Writer)
	if ok {
		buf.Reset(sp.f)
	} else {
		buf = bufio.NewWriterSize(sp.f, blobBufSize)
	}
	return &BlobWriter{s: s, f: sp.f, buf: buf, id: sp.id, dirSync: dirSync}, nil
}

// Write appends to the blob.
func (w *BlobWriter) Write(p []byte) (int, error) {
	if w.done || w.buf == nil {
		return 0, errors.New("store: blob: write after commit or abort")
	}
	n, err := w.buf.Write(p)
	w.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("store: blob: %w", err)
	}
	return n, nil
}

// Commit fsyncs the file and waits for its directory entry's fsync. The
// blob is then durable but unreferenced: Deliver, AddReply or Append
// reference it; if that fails the caller calls DiscardBlob. Open removes
// blobs left unreferenced by a crash.
func (w *BlobWriter) Commit() (BlobRef, error) {
	if w.done {
		return BlobRef{}, errors.New("store: blob: commit after commit or abort")
	}
	s := w.s
	if err := w.buf.Flush(); err != nil {
		w.Abort()
		return BlobRef{}, fmt.Errorf("store: blob: write: %w", err)
	}
	w.releaseBuf()
	// File times would tell the minute of each submission: set them to the
	// day, as every stored date is (filetime.go), before the fsync that
	// makes them durable with the data.
	if err := DayTimes(filepath.Join(s.blobs, w.id), s.opts.Now()); err != nil {
		w.Abort()
		return BlobRef{}, fmt.Errorf("store: blob: times: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return BlobRef{}, fmt.Errorf("store: blob: sync: %w", err)
	}
	if err := w.f.Close(); err != nil {
		w.Abort()
		return BlobRef{}, fmt.Errorf("store: blob: close: %w", err)
	}
	if err := <-w.dirSync; err != nil {
		w.dirSync <- err // Abort reads it again
		w.Abort()
		return BlobRef{}, fmt.Errorf("store: blob: sync dir: %w", err)
	}
	s.blobMu.Lock()
	w.done = true
	delete(s.temps, w.id)
	s.pending[w.id] = w.size
	s.blobMu.Unlock()
	return BlobRef{ID: w.id, Size: w.size}, nil
}

// releaseBuf gives the write buffer back to the Store's pool (64 KiB made
// and cleared for every blob was a tenth of APPEND's allocation work).
func (w *BlobWriter) releaseBuf() {
	if w.buf == nil {
		return
	}
	w.buf.Reset(nil)
	w.s.blobBufs.Put(w.buf)
	w.buf = nil
}

// Abort removes the file. It is a no-op after Commit or a previous Abort.
// It waits for the directory fsync first, so that no fsync of blobs/ is
// left running behind the caller.
func (w *BlobWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.releaseBuf()
	w.f.Close()
	<-w.dirSync
	w.s.shredTemps([]string{w.id})
	return nil
}

// DiscardBlob removes a committed blob that no record references (a delivery that
// failed after Commit). A referenced blob is refused.
func (s *Store) DiscardBlob(id string) error {
	if !validBlobID(id) {
		return fmt.Errorf("store: discard blob: %w", ErrNotFound)
	}
	s.blobMu.Lock()
	referenced := false
	err := s.view(func(tx *bolt.Tx) error {
		referenced = tx.Bucket(bRefs).Get([]byte(id)) != nil
		return nil
	})
	if err == nil && referenced {
		err = errors.New("blob is referenced")
	}
	if _, writing := s.temps[id]; err == nil && writing {
		err = errors.New("blob is being written") // its writer's Abort removes it
	}
	tmp := tmpPrefix + "dead-" + id
	if err == nil {
		err = os.Rename(filepath.Join(s.blobs, id), filepath.Join(s.blobs, tmp))
		if errors.Is(err, os.ErrNotExist) {
			err = ErrNotFound
		}
	}
	if err == nil {
		delete(s.pending, id)
		s.temps[tmp] = struct{}{}
	}
	s.blobMu.Unlock()
	if err != nil {
		return fmt.Errorf("store: discard blob: %w", err)
	}
	s.shredTemps([]string{tmp})
	return nil
}

// OpenBlob opens a blob file for reading.
func (s *Store) OpenBlob(id string) (*os.File, error) {
	if !validBlobID(id) {
		return nil, fmt.Errorf("store: open blob: invalid id: %w", ErrNotFound)
	}
	f, err := OpenNoAtime(filepath.Join(s.blobs, id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: open blob: %w", ErrNotFound)
		}
		return nil, fmt.Errorf("store: open blob: %w", err)
	}
	return f, nil
}

// shred overwrites a file with zeros, syncs it and removes it. On journaling,
// copy-on-write or flash storage the old blocks may survive; this is the best a
// program can do, and the files hold ciphertext anyway. A missing file is fine.
func shred(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return os.Remove(path)
	}
	fi, err := f.Stat()
	if err == nil {
		zeros := make([]byte, 64<<10)
		for left := fi.Size(); left > 0 && err == nil; {
			n := int64(len(zeros))
			if left < n {
				n = left
			}
			_, err = f.Write(zeros[:n])
			left -= n
		}
		if err == nil {
			err = f.Sync()
		}
	}
	f.Close()
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return rerr
	}
	return err
}

// collectBlobs runs at Open, before anything else can write: it removes temp files
// and blob files that no record references (a crash after Commit but before the
// delivery committed), and reports records whose file is missing.
func (s *Store) collectBlobs() error {
	refs := map[string]bool{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bRefs).ForEach(func(k, _ []byte) error {
			refs[string(k)] = true
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: open: reading blob references: %w", err)
	}
	entries, err := readDirNoAtime(s.blobs)
	if err != nil {
		return fmt.Errorf("store: open: %w", err)
	}
	removed := 0
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tmpPrefix) && e.Type().IsRegular():
		case validBlobID(name) && e.Type().IsRegular():
			if refs[name] {
				delete(refs, name)
				continue
			}
		default:
			s.log.Warn("store: unknown entry in blobs directory left alone")
			continue
		}
		if err := shred(filepath.Join(s.blobs, name)); err != nil {
			return fmt.Errorf("store: open: removing stale blob: %w", err)
		}
		removed++
	}
	if removed > 0 {
		s.log.Info("store: removed unreferenced blob files", "count", removed)
		if err := syncDir(s.blobs); err != nil {
			return fmt.Errorf("store: open: %w", err)
		}
		s.settle(s.blobs)
	}
	if len(refs) > 0 {
		s.log.Error("store: referenced blob files are missing", "count", len(refs))
	}
	return nil
}

package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Snapshot is a consistent view of the store for a backup taken while the relay
// runs: a bbolt read transaction (so the database copy is one committed state)
// and the list of blobs that state references. Until Close, no blob file is
// shredded (see Store.pins), so every blob in the list stays readable even if a
// deletion, an expunge or retention drops it in the meantime; deliveries and
// other writes go on.
//
// Use: Snapshot, then WriteDB first (it ends the read transaction, which holds
// the database shared: Compact and Close wait for it), then OpenBlob for each of
// Blobs, then Close. Between Snapshot and WriteDB the caller must not call other
// Store methods on the same goroutine.
type Snapshot struct {
	s     *Store
	mu    sync.Mutex
	tx    *bolt.Tx // nil once WriteDB ran or Close was called
	size  int64
	blobs []BlobRef
	done  bool
}

// Snapshot starts a consistent view (see Snapshot). Close it.
func (s *Store) Snapshot() (*Snapshot, error) {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	s.dbMu.RLock()
	if s.db == nil {
		s.dbMu.RUnlock()
		return nil, errClosed
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		s.dbMu.RUnlock()
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	var blobs []BlobRef
	err = tx.Bucket(bRefs).ForEach(func(k, v []byte) error {
		_, size := decodeRef(v)
		if !validBlobID(string(k)) || size < 0 {
			return errors.New("damaged blob reference record (run check)")
		}
		blobs = append(blobs, BlobRef{ID: string(k), Size: size})
		return nil
	})
	if err != nil {
		tx.Rollback()
		s.dbMu.RUnlock()
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].ID < blobs[j].ID })
	s.pins++
	s.snapTxs++
	return &Snapshot{s: s, tx: tx, size: tx.Size(), blobs: blobs}, nil
}

// DBSize is the size in bytes of the database copy WriteDB writes.
func (sn *Snapshot) DBSize() int64 { return sn.size }

// Blobs lists the blobs the snapshot's database references, sorted by id.
func (sn *Snapshot) Blobs() []BlobRef { return append([]BlobRef(nil), sn.blobs...) }

// WriteDB writes the database as of the snapshot (a complete bbolt file of
// DBSize bytes) to w and ends the read transaction. It can be called once.
func (sn *Snapshot) WriteDB(w io.Writer) (int64, error) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.tx == nil {
		return 0, errors.New("store: snapshot: database already written or snapshot closed")
	}
	n, err := sn.tx.WriteTo(w)
	sn.endTxLocked()
	if err != nil {
		return n, fmt.Errorf("store: snapshot: %w", err)
	}
	if n != sn.size {
		return n, fmt.Errorf("store: snapshot: wrote %d database bytes, expected %d", n, sn.size)
	}
	return n, nil
}

func (sn *Snapshot) endTxLocked() {
	if sn.tx == nil {
		return
	}
	sn.tx.Rollback()
	sn.tx = nil
	s := sn.s
	s.dbMu.RUnlock()
	// A compaction put off while the database was being copied runs now.
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	s.snapTxs--
	if s.snapTxs == 0 && s.compactDue {
		s.compactDue = false
		if err := s.compactLocked(); err != nil {
			s.opts.Tally.Add(KindCompact, err)
		}
	}
}

// OpenBlob opens a blob of the snapshot. A blob that lost its last reference
// after the snapshot began is read from the name it was renamed to while it
// waits to be shredded.
func (sn *Snapshot) OpenBlob(id string) (*os.File, error) {
	if !validBlobID(id) {
		return nil, fmt.Errorf("store: snapshot: invalid blob id: %w", ErrNotFound)
	}
	f, err := OpenNoAtime(filepath.Join(sn.s.blobs, id))
	if errors.Is(err, os.ErrNotExist) {
		f, err = OpenNoAtime(filepath.Join(sn.s.blobs, tmpPrefix+"dead-"+id))
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: snapshot: blob %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	return f, nil
}

// Close ends the snapshot; when the last one closes, the blob files whose
// removal waited for it are shredded.
func (sn *Snapshot) Close() error {
	sn.mu.Lock()
	if sn.done {
		sn.mu.Unlock()
		return nil
	}
	sn.done = true
	sn.endTxLocked()
	sn.mu.Unlock()
	s := sn.s
	s.blobMu.Lock()
	s.pins--
	var doomed []string
	if s.pins == 0 {
		doomed, s.deferred = s.deferred, nil
	}
	s.blobMu.Unlock()
	s.shredTemps(doomed)
	return nil
}

package store

import (
	"fmt"
	"os"
	"path/filepath"
)

// Spare blob files: empty files under fresh blob names, created and made
// durable (one fsync of blobs/ for a batch) on a background goroutine
// before anything needs them. NewBlob takes one when there is one, so the
// file's creation (0.4 ms of an APPEND's CPU, measured) and its directory
// fsync leave the path between a message's last byte and its OK.
//
// Crash argument, as for any blob (see BlobWriter): a spare becomes
// available only after the fsync of blobs/ that made its entry durable, so
// a BlobWriter made from one has nothing left to wait for but its file's
// own fsync in Commit. A spare is registered in s.temps from its creation,
// so Check never calls it stray and no delivery can reference it before a
// writer committed it. A crash leaves spares as empty files that no record
// references, which Open removes (collectBlobs) like any unreferenced
// blob. Close removes the spares of a clean stop.
//
// The spares start with the first NewBlob, so commands that only read an
// instance (status, backup) never create files in it.
const spareBlobs = 16

type spareFile struct {
	id string
	f  *os.File
}

// spares is the Store's pool; its zero value is unstarted.
type spares struct {
	closed bool                // the Store closed: no more spares
	ids    map[string]struct{} // every spare file in blobs/ not yet taken
	ready  chan spareFile      // made and durable; capacity spareBlobs
	wake   chan struct{}       // capacity 1: a spare was taken
	stop   chan struct{}
	done   chan struct{}
}

// takeSpare returns a spare file, or false when none is ready. blobMu held.
func (s *Store) takeSpare() (spareFile, bool) {
	if s.spare.closed {
		return spareFile{}, false
	}
	if s.spare.ready == nil {
		s.spare = spares{
			ids:   map[string]struct{}{},
			ready: make(chan spareFile, spareBlobs),
			wake:  make(chan struct{}, 1),
			stop:  make(chan struct{}),
			done:  make(chan struct{}),
		}
		go s.makeSpares(s.spare)
	}
	var sp spareFile
	ok := false
	select {
	case sp = <-s.spare.ready:
		ok = true
		delete(s.spare.ids, sp.id)
	default:
	}
	select {
	case s.spare.wake <- struct{}{}:
	default:
	}
	return sp, ok
}

// makeSpares tops the pool up whenever it falls to half.
func (s *Store) makeSpares(sp spares) {
	defer close(sp.done)
	for {
		select {
		case <-sp.stop:
			return
		case <-sp.wake:
		}
		if len(sp.ready) > spareBlobs/2 {
			continue
		}
		batch, err := s.newSpares(spareBlobs - len(sp.ready))
		if err != nil {
			s.opts.Tally.Add(KindSpare, err)
			continue
		}
		for _, f := range batch {
			sp.ready <- f // never blocks: only this goroutine adds, at most the room there was
		}
	}
}

// KindSpare counts failures to make spare blob files ahead of time (a
// full disk, say); NewBlob then makes its file itself, as before.
const KindSpare = "store: making spare blob files failed"

// newSpares creates n empty blob files and makes their entries durable.
func (s *Store) newSpares(n int) ([]spareFile, error) {
	batch := make([]spareFile, 0, n)
	var err error
	for range n {
		var sp spareFile
		if sp, err = s.createBlobFile(true); err != nil {
			break
		}
		batch = append(batch, sp)
	}
	if len(batch) > 0 && err == nil {
		err = syncDir(s.blobs)
	}
	if err != nil {
		s.dropSpares(batch)
		return nil, fmt.Errorf("store: spare blobs: %w", err)
	}
	return batch, nil
}

// createBlobFile creates an empty file under a new blob name, registered
// in s.temps, and as a spare when spare.
func (s *Store) createBlobFile(spare bool) (spareFile, error) {
	id, err := newBlobID()
	if err != nil {
		return spareFile{}, err
	}
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	f, err := os.OpenFile(filepath.Join(s.blobs, id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return spareFile{}, err
	}
	s.temps[id] = struct{}{}
	if spare && s.spare.ids != nil {
		s.spare.ids[id] = struct{}{}
	}
	// The file's times and the directory's moved to the microsecond: back
	// to the day at once, as every stored date is (filetime.go).
	s.settle(filepath.Join(s.blobs, id), s.blobs)
	return spareFile{id: id, f: f}, nil
}

// spareInPlace reports whether a spare taken from the pool is still the
// file its name in blobs/ points to. When blobs/ was moved or replaced
// under the running relay (an admin's mistake, a disk remounted), writing
// through the spare's descriptor would put a message where no record can
// find it and no shred can reach it: such a spare is let go (its empty
// file, wherever it is, is collected by the next Open) and the caller
// makes its file afresh, which fails as it did before spares.
func (s *Store) spareInPlace(sp spareFile) bool {
	fi, err := os.Stat(filepath.Join(s.blobs, sp.id))
	if err == nil {
		var fs os.FileInfo
		if fs, err = sp.f.Stat(); err == nil && os.SameFile(fi, fs) {
			return true
		}
	}
	sp.f.Close()
	s.blobMu.Lock()
	delete(s.temps, sp.id)
	s.blobMu.Unlock()
	return false
}

// Spare reports whether id names a spare blob file: an empty file made
// ahead of need, which holds nothing and which no record references yet.
// Tests that check that deleting leaves no file in blobs/ leave spares out.
func (s *Store) Spare(id string) bool {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	_, ok := s.spare.ids[id]
	return ok
}

// dropSpares closes and removes spare files (empty: nothing to overwrite).
func (s *Store) dropSpares(batch []spareFile) {
	names := make([]string, len(batch))
	s.blobMu.Lock()
	for i, sp := range batch {
		sp.f.Close()
		names[i] = sp.id
		delete(s.spare.ids, sp.id)
	}
	s.blobMu.Unlock()
	s.shredTemps(names)
}

// stopSpares ends the goroutine and removes the spares left. blobMu not held.
func (s *Store) stopSpares() {
	s.blobMu.Lock()
	sp := s.spare
	s.spare = spares{closed: true}
	s.blobMu.Unlock()
	if sp.ready == nil {
		return
	}
	close(sp.stop)
	<-sp.done
	var left []spareFile
	for len(sp.ready) > 0 {
		left = append(left, <-sp.ready)
	}
	s.dropSpares(left)
}

package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// txState collects what a write transaction did to blobs and which events it
// produced; update applies it only after the commit succeeded.
type txState struct {
	s      *Store
	used   map[string]bool // pending blobs that gained their first reference
	dead   map[string]bool // blobs whose last reference went away
	events []Event
}

// update runs fn in a write transaction under blobMu (see Store), then settles blob
// files, publishes events in commit order and shreds the blob files that lost their
// last reference. The shredding happens before update returns, so when a delete
// call returns the data is gone from the directory.
func (s *Store) update(op string, fn func(tx *bolt.Tx, st *txState) error) error {
	s.blobMu.Lock()
	locked := true
	defer func() {
		if locked { // fn panicked
			s.blobMu.Unlock()
		}
	}()
	var st *txState
	err := func() error {
		s.dbMu.RLock()
		defer s.dbMu.RUnlock()
		if s.db == nil {
			return errClosed
		}
		return s.db.Update(func(tx *bolt.Tx) error {
			st = &txState{s: s, used: map[string]bool{}, dead: map[string]bool{}}
			return fn(tx, st)
		})
	}()
	if err != nil {
		locked = false
		s.blobMu.Unlock()
		return fmt.Errorf("store: %s: %w", op, err)
	}
	// Still under blobMu, so the next writer's commit comes after this.
	s.settle(s.dbPath())
	for id := range st.used {
		delete(s.pending, id)
	}
	var doomed []string
	for id := range st.dead {
		delete(s.pending, id)
		tmp := tmpPrefix + "dead-" + id
		if err := os.Rename(filepath.Join(s.blobs, id), filepath.Join(s.blobs, tmp)); err != nil {
			s.opts.Tally.Add(KindShred, err)
			continue
		}
		s.temps[tmp] = struct{}{}
		if s.pins > 0 {
			s.deferred = append(s.deferred, tmp)
			continue
		}
		doomed = append(doomed, tmp)
	}
	if len(st.dead) > 0 {
		s.settle(s.blobs)
	}
	s.pubMu.Lock()
	locked = false
	s.blobMu.Unlock()
	func() {
		defer s.pubMu.Unlock()
		s.publish(st.events)
	}()
	s.shredTemps(doomed)
	return nil
}

// Kinds of events counted in Options.Tally: they happen when a request
// deletes or fails, so they are counted rather than logged.
const (
	KindShred   = "store: shredding or removing a blob file failed"
	KindCompact = "store: compaction trouble"
)

// shredTemps overwrites and removes files registered in s.temps.
func (s *Store) shredTemps(names []string) {
	for _, name := range names {
		if err := shred(filepath.Join(s.blobs, name)); err != nil {
			s.opts.Tally.Add(KindShred, err)
		}
		s.blobMu.Lock()
		delete(s.temps, name)
		s.blobMu.Unlock()
	}
	if len(names) > 0 {
		s.settle(s.blobs)
	}
}

// emit records an event, merging UIDs into an earlier event of the same kind for the
// same mailbox.
func (st *txState) emit(j, mailbox string, kind EventKind, uids ...uint32) {
	for i := range st.events {
		e := &st.events[i]
		if e.Journalist == j && e.Mailbox == mailbox && e.Kind == kind {
			e.UIDs = append(e.UIDs, uids...)
			return
		}
	}
	st.events = append(st.events, Event{Journalist: j, Mailbox: mailbox, Kind: kind, UIDs: uids})
}

// ref adds n references to a blob. A blob without references must be one committed
// by this Store and not yet referenced or discarded (pending), with the same size.
func (st *txState) ref(tx *bolt.Tx, id string, size int64, n uint64) error {
	if !validBlobID(id) {
		return fmt.Errorf("blob id: %w", ErrNotFound)
	}
	b := tx.Bucket(bRefs)
	count, stored := uint64(0), int64(0)
	if v := b.Get([]byte(id)); v != nil {
		count, stored = decodeRef(v)
	} else {
		psize, ok := st.s.pending[id]
		if !ok || st.dead[id] {
			return fmt.Errorf("blob is not committed or already gone: %w", ErrNotFound)
		}
		stored = psize
		st.used[id] = true
	}
	if stored != size {
		return fmt.Errorf("blob size %d does not match the committed %d", size, stored)
	}
	return b.Put([]byte(id), encodeRef(count+n, size))
}

// unref drops one reference; at zero the blob's file is removed after commit.
func (st *txState) unref(tx *bolt.Tx, id string) error {
	b := tx.Bucket(bRefs)
	v := b.Get([]byte(id))
	if v == nil {
		return fmt.Errorf("refcount of a referenced blob is missing (run check)")
	}
	count, size := decodeRef(v)
	if count <= 1 {
		st.dead[id] = true
		return b.Delete([]byte(id))
	}
	return b.Put([]byte(id), encodeRef(count-1, size))
}

func encodeRef(count uint64, size int64) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, count)
	binary.BigEndian.PutUint64(v[8:], uint64(size))
	return v
}

func decodeRef(v []byte) (count uint64, size int64) {
	if len(v) != 16 {
		return 0, -1
	}
	return binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:]))
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// u32 encodes a UID big-endian, so cursor order is UID order.
func u32(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("corrupt record: %w", err)
	}
	return nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

var errNoBucket = errors.New("database layout damaged: bucket missing")

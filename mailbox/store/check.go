package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Stats counts journalists, sources, messages (copies in all mailboxes), replies and
// blob files with their total size.
func (s *Store) Stats() (Stats, error) {
	defer s.dropMapped()
	var st Stats
	err := s.view(func(tx *bolt.Tx) error {
		jb := tx.Bucket(bJournalists)
		if err := jb.ForEach(func(k, _ []byte) error {
			var r journalistRec
			if err := getJSON(jb, k, &r); err != nil {
				return err
			}
			if !r.System {
				st.Journalists++
			}
			return nil
		}); err != nil {
			return err
		}
		st.Sources = tx.Bucket(bSources).Stats().KeyN
		msgs := tx.Bucket(bMsgs)
		if err := msgs.ForEachBucket(func(k []byte) error {
			st.Messages += msgs.Bucket(k).Stats().KeyN
			return nil
		}); err != nil {
			return err
		}
		reps := tx.Bucket(bReplies)
		if err := reps.ForEachBucket(func(k []byte) error {
			st.Replies += reps.Bucket(k).Stats().KeyN
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bRefs).ForEach(func(_, v []byte) error {
			_, size := decodeRef(v)
			st.Blobs++
			st.BlobBytes += size
			return nil
		})
	})
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

// Check verifies the store's integrity: bbolt's own page check; every message and
// reply points at a blob whose refcount counts it and whose file exists with the
// recorded size; refcounts match the records; the source index matches the
// messages; UIDNEXT is above every UID; no file in blobs/ is unaccounted for. It
// reports up to 20 problems, joined.
func (s *Store) Check() error {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	var problems []error
	add := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Errorf(format, args...))
		}
	}
	refs := map[string]uint64{}
	sizes := map[string]int64{}
	stored := map[string]uint64{}
	storedSize := map[string]int64{}
	err := s.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			add("bbolt: %v", err)
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("bucket %s: %w", b, errNoBucket)
			}
		}
		count := func(id string, size int64, what string) {
			refs[id]++
			if old, ok := sizes[id]; ok && old != size {
				add("%s: blob size differs between records", what)
			}
			sizes[id] = size
		}
		if err := checkDesks(tx, add); err != nil {
			return err
		}
		byID, err := mailboxesByID(tx)
		if err != nil {
			return err
		}
		index := map[string]string{} // source id + mailbox id + uid → blob
		for mid, m := range byID {
			b, err := m.msgs(tx)
			if err != nil {
				add("mailbox without message bucket")
				continue
			}
			if err := b.ForEach(func(k, v []byte) error {
				var rec messageRec
				if err := getJSON(b, k, &rec); err != nil {
					return err
				}
				uid := beUint32(k)
				if uid == 0 || uid >= m.rec.UIDNext {
					add("message UID %d not below UIDNEXT %d", uid, m.rec.UIDNext)
				}
				count(rec.Blob, rec.Size, "message")
				if rec.Source != nil {
					if tx.Bucket(bSources).Get(rec.Source) == nil {
						add("message of a missing source")
					}
					index[string(rec.Source)+mid+string(k)] = rec.Blob
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bMsgMeta).ForEach(func(k, _ []byte) error {
			m, ok := byID[string(k[:min(len(k), 8)])]
			if len(k) != 12 || !ok {
				add("message structure without its mailbox")
				return nil
			}
			if b, err := m.msgs(tx); err == nil && b.Get(k[8:]) == nil {
				add("message structure without its message")
			}
			return nil
		}); err != nil {
			return err
		}
		if len(byID) != countNested(tx.Bucket(bMsgs)) {
			add("message buckets without a mailbox: %d buckets, %d mailboxes", countNested(tx.Bucket(bMsgs)), len(byID))
		}
		si := tx.Bucket(bSrcMsgs)
		if err := si.ForEachBucket(func(src []byte) error {
			return si.Bucket(src).ForEach(func(k, v []byte) error {
				key := string(src) + string(k)
				if blob, ok := index[key]; !ok || blob != string(v) {
					add("source index entry without its message")
				}
				delete(index, key)
				return nil
			})
		}); err != nil {
			return err
		}
		if len(index) > 0 {
			add("%d messages missing from the source index", len(index))
		}
		reps := tx.Bucket(bReplies)
		if err := reps.ForEachBucket(func(src []byte) error {
			if tx.Bucket(bSources).Get(src) == nil {
				add("replies of a missing source")
			}
			rb := reps.Bucket(src)
			return rb.ForEach(func(k, v []byte) error {
				var r replyRec
				if err := getJSON(rb, k, &r); err != nil {
					return err
				}
				count(r.Blob, r.Size, "reply")
				return nil
			})
		}); err != nil {
			return err
		}
		if err := pendingRefs(tx, count); err != nil {
			return err
		}
		for _, idx := range [][]byte{bSrcAddr, bSrcDesig} {
			if err := tx.Bucket(idx).ForEach(func(k, v []byte) error {
				if tx.Bucket(bSources).Get(v) == nil {
					add("%s index entry of a missing source", idx)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return tx.Bucket(bRefs).ForEach(func(k, v []byte) error {
			stored[string(k)], storedSize[string(k)] = decodeRef(v)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	for id, n := range refs {
		if stored[id] != n {
			add("blob %s: refcount %d, records %d", id, stored[id], n)
		}
		if storedSize[id] != sizes[id] {
			add("blob %s: recorded size differs from refcount record", id)
		}
		fi, err := os.Stat(filepath.Join(s.blobs, id))
		if err != nil {
			add("blob %s: file: %v", id, err)
		} else if fi.Size() != sizes[id] {
			add("blob %s: file is %d bytes, records say %d", id, fi.Size(), sizes[id])
		}
	}
	for id := range stored {
		if _, ok := refs[id]; !ok {
			add("blob %s: refcount without records", id)
		}
	}
	entries, err := readDirNoAtime(s.blobs)
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		_, ref := refs[name]
		_, pend := s.pending[name]
		_, tmp := s.temps[name]
		if !ref && !pend && !tmp {
			add("stray file in blobs/: %q", name)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: check: %w", errors.Join(problems...))
	}
	return nil
}

func countNested(b *bolt.Bucket) int {
	n := 0
	b.ForEachBucket(func([]byte) error { n++; return nil })
	return n
}

// Compact rewrites the database into a fresh file holding only live records and
// replaces the old file, which is overwritten before removal. bbolt never shrinks
// its file and leaves deleted values readable in freed pages until they are reused,
// so DeleteSource calls this to make deletion real; retention jobs should too.
// Writers wait and readers are paused meanwhile. A crash at any point leaves either
// the old or the new file in place; Open finishes or undoes the swap.
//
// While a Snapshot's database copy is being written, the compaction is put
// off until that copy ends (snapshot.go): the deleted records are in that
// copy anyway, and waiting here would stall every writer meanwhile.
func (s *Store) Compact() error {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	if s.snapTxs > 0 {
		s.compactDue = true
		return nil
	}
	return s.compactLocked()
}

// compactLocked is Compact with blobMu held.
func (s *Store) compactLocked() error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db == nil {
		return errClosed
	}
	path := filepath.Join(s.dir, dbName)
	tmp, old := path+".compact", path+".old"
	if err := shred(tmp); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	dst, err := bolt.Open(tmp, 0o600, boltOptions(s.opts))
	if err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	if err := bolt.Compact(dst, s.db, 16<<20); err != nil {
		dst.Close()
		shred(tmp)
		return fmt.Errorf("store: compact: %w", err)
	}
	// Swap the files while both handles stay open and locked, so no other process
	// can take the lock in between.
	if err := os.Rename(path, old); err != nil {
		dst.Close()
		shred(tmp)
		return fmt.Errorf("store: compact: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		if rerr := os.Rename(old, path); rerr != nil {
			s.opts.Tally.Add(KindCompact, fmt.Errorf("could not restore the database file name; Open will: %w", rerr))
		}
		dst.Close()
		shred(tmp)
		return fmt.Errorf("store: compact: %w", err)
	}
	syncErr := syncDir(s.dir)
	if err := s.db.Close(); err != nil {
		s.opts.Tally.Add(KindCompact, fmt.Errorf("closing the old database: %w", err))
	}
	s.db = dst
	if syncErr != nil {
		return fmt.Errorf("store: compact: %w", syncErr)
	}
	err = shred(old)
	s.settle(path, s.dir)
	if err != nil {
		return fmt.Errorf("store: compact: removing old file: %w", err)
	}
	return nil
}

// recoverCompaction finishes or undoes a Compact interrupted by a crash.
func recoverCompaction(dir string, log interface{ Warn(string, ...any) }) error {
	path := filepath.Join(dir, dbName)
	tmp, old := path+".compact", path+".old"
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if exists(old) {
		if exists(path) {
			log.Warn("store: removing the database copy left by an interrupted compaction")
			if err := shred(old); err != nil {
				return fmt.Errorf("store: open: %w", err)
			}
		} else {
			log.Warn("store: restoring the database after an interrupted compaction")
			if err := os.Rename(old, path); err != nil {
				return fmt.Errorf("store: open: %w", err)
			}
		}
	}
	if exists(tmp) {
		if err := shred(tmp); err != nil {
			return fmt.Errorf("store: open: %w", err)
		}
	}
	return nil
}

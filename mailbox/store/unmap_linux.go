package store

import (
	"os"
	"syscall"
)

// dropMapped takes the database's pages out of the relay's memory map
// (madvise MADV_DONTNEED): they stay in the page cache, and the next read
// of a page maps it again. bbolt reads the file through a shared read-only
// mapping, and on Linux every page fault also maps up to 16 neighbouring
// pages already cached ("fault-around"), so one pass over a mailbox's small
// records left most of the file mapped, message structures (bMsgMeta)
// included: with 10,000 messages 22 MiB of the relay's RSS stayed there
// after startup and each SELECT, and argon2id's 64 MiB at a login came on
// top. It is called after passes over many records. Dropping clean,
// file-backed pages from a shared mapping loses nothing; bbolt never
// writes through the mapping.
//
// It takes blobMu: no write transaction, so no remap, can run meanwhile
// (a remap could put other memory where the old mapping was). The caller
// must not hold blobMu or dbMu.
func (s *Store) dropMapped() {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return
	}
	fi, err := os.Stat(s.db.Path())
	if err != nil || fi.Size() == 0 {
		return
	}
	// bbolt maps at least the whole file (InitialMmapSize up front).
	addr := s.db.Info().Data
	syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(fi.Size()), syscall.MADV_DONTNEED)
}

//go:build !linux

package store

// dropMapped is a no-op where fault-around is not known to map whole
// files (see unmap_linux.go).
func (s *Store) dropMapped() {}

package store

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// kBackupSerial in the meta bucket counts the backups made of this instance.
var kBackupSerial = []byte("backup_serial")

// NextBackupSerial counts one more backup and returns its number: 1 for the
// first. Call it before Snapshot, so that the database in the archive holds
// the number and a restored instance goes on counting from it. A backup that
// fails after this leaves a gap, which is harmless: the numbers only need to
// grow, so that a restore can tell an older backup from a newer one made on
// the same day (dates in an archive are days).
func (s *Store) NextBackupSerial() (uint64, error) {
	var n uint64
	err := s.update("backup serial", func(tx *bolt.Tx, _ *txState) error {
		meta := tx.Bucket(bMeta)
		if v := meta.Get(kBackupSerial); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		n++
		return meta.Put(kBackupSerial, binary.BigEndian.AppendUint64(nil, n))
	})
	return n, err
}

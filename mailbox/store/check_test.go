package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCheckFindsDamage makes sure Check, which every other test relies on, is not
// blind.
func TestCheckFindsDamage(t *testing.T) {
	damage := map[string]func(t *testing.T, s *Store, ref BlobRef){
		"stray file": func(t *testing.T, s *Store, _ BlobRef) {
			os.WriteFile(filepath.Join(s.Dir(), blobDir, "0123456789abcdef0123456789abcdef"), []byte("x"), 0o600)
		},
		"missing blob file": func(t *testing.T, s *Store, ref BlobRef) {
			os.Remove(filepath.Join(s.Dir(), blobDir, ref.ID))
		},
		"truncated blob file": func(t *testing.T, s *Store, ref BlobRef) {
			os.Truncate(filepath.Join(s.Dir(), blobDir, ref.ID), 1)
		},
		"wrong refcount": func(t *testing.T, s *Store, ref BlobRef) {
			s.update("damage", func(tx *bolt.Tx, _ *txState) error {
				return tx.Bucket(bRefs).Put([]byte(ref.ID), encodeRef(5, ref.Size))
			})
		},
		"lost source index": func(t *testing.T, s *Store, _ BlobRef) {
			s.update("damage", func(tx *bolt.Tx, _ *txState) error {
				return tx.DeleteBucket(bSrcMsgs)
			})
			s.update("damage", func(tx *bolt.Tx, _ *txState) error {
				_, err := tx.CreateBucket(bSrcMsgs)
				return err
			})
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			s, _ := newTestStore(t)
			addJournalist(t, s, "ana")
			src := addSource(t, s, "ample badger")
			ref := putBlob(t, s, []byte("some ciphertext"))
			if err := s.Deliver(Delivery{Blob: ref, SourceID: src.ID}); err != nil {
				t.Fatal(err)
			}
			mustCheck(t, s)
			fn(t, s, ref)
			err := s.Check()
			if err == nil {
				t.Fatal("Check found nothing")
			}
			if !strings.HasPrefix(err.Error(), "store: check: ") {
				t.Fatalf("error %q", err)
			}
		})
	}
}

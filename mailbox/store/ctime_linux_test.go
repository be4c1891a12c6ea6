package store_test

import (
	"bytes"
	"path/filepath"
	"syscall"
	"testing"

	"postern/mailbox/store"
)

// TestLoginOnlyVisitWritesNothing: a source who only logs in (the record
// already says today) causes no write at all, so not even postern.db's change
// time, which no program can set back, dates the visit.
func TestLoginOnlyVisitWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Init(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := store.Source{ID: bytes.Repeat([]byte{9}, 32), Designation: "quixotic tangerine", Address: "qt@x.example"}
	if err := st.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	ctime := func() syscall.Timespec {
		var s syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dir, "postern.db"), &s); err != nil {
			t.Fatal(err)
		}
		return s.Ctim
	}
	before := ctime()
	for range 3 {
		if err := st.TouchSource(src.ID); err != nil {
			t.Fatal(err)
		}
	}
	if after := ctime(); after != before {
		t.Errorf("login-only visits changed postern.db's ctime from %v to %v", before, after)
	}
}

//go:build unix

package store

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwner refuses a data directory that belongs to another user: whoever owns it
// can read every record and blob, whatever its mode says.
func checkOwner(path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to this process (uid %d)", path, st.Uid, os.Geteuid())
	}
	return nil
}

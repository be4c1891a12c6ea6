package privscan

import (
	"io/fs"
	"syscall"
	"time"
)

// accessTime is the access time the system reports, or zero.
func accessTime(fi fs.FileInfo) time.Time {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}
	}
	return time.Unix(st.Atim.Unix())
}

package store

import "syscall"

// oNoAtime keeps reads from moving a file's access time (see filetime.go).
const oNoAtime = syscall.O_NOATIME

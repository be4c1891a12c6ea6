//go:build !linux

package store

// oNoAtime is 0 where the system has no O_NOATIME (see filetime.go).
const oNoAtime = 0

//go:build !linux

package cli

import "os"

// isTerminal reports whether f is a terminal; without a portable test here,
// a character device counts as one.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// withoutEcho cannot turn echo off on this platform.
func withoutEcho(f *os.File, fn func() error) error { return fn() }

package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File times would date every request that writes: postern.db's mtime moves
// with each write transaction (a source's login included), a blob's with its
// submission, blobs/'s with every file made or removed there. So every file
// time the relay can set is set to the day, as every stored date is:
//
//   - after each committed write transaction, postern.db gets midnight UTC of
//     the day as its access and modification time (one utimensat call);
//   - a blob file gets the same before it is renamed into place, and blobs/
//     after every file is created, renamed or removed in it;
//   - the data directory after a compaction swaps the database file.
//
// Access times: Linux's default relatime would set a file's atime to the
// second of the next read whenever atime <= mtime, which a day stamp always
// is. So the store reads its files with O_NOATIME (Linux; the relay owns
// them), postern.db included (bbolt maps and reads it through that
// descriptor), and a read leaves the day in place. Elsewhere the flag is 0:
// mount the data directory noatime there (docs/admin.md).
//
// What no program can set: ctime (the kernel stamps every change, chtimes
// included), birth time, and the order of inode numbers. docs/admin.md says
// how to live with them.

// KindTimes is the tally kind of a failure to set a file's times.
const KindTimes = "store: setting a file's times to the day failed"

// DayTimes sets path's access and modification times to midnight UTC of t's
// day. The relay calls it on every file it writes outside the store too
// (configuration, onion keys, tor's torrc).
func DayTimes(path string, t time.Time) error {
	d := day(t)
	return os.Chtimes(path, d, d)
}

// DayTree is DayTimes for dir and every directory and regular file under
// it, children before their directory (reading a directory moves its access
// time; setting it last keeps the day). A restored instance and tor's files
// after tor exits get it. It returns the first error and goes on.
func DayTree(dir string, t time.Time) error {
	var paths []string
	werr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (d.IsDir() || d.Type().IsRegular()) {
			paths = append(paths, p)
		}
		return nil
	})
	slices.Reverse(paths)
	for _, p := range paths {
		if err := DayTimes(p, t); err != nil && werr == nil {
			werr = err
		}
	}
	return werr
}

// settle gives paths the day's times. A failure is counted, not logged: it
// happens on a request path.
func (s *Store) settle(paths ...string) {
	now := s.opts.Now()
	for _, p := range paths {
		if err := DayTimes(p, now); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.opts.Tally.Add(KindTimes, err)
		}
	}
}

func (s *Store) dbPath() string { return filepath.Join(s.dir, dbName) }

// OpenNoAtime opens path read-only without moving its access time where the
// system allows it; otherwise (EPERM: not the owner) it opens it plainly.
// The relay reads its configuration through it too.
func OpenNoAtime(path string) (*os.File, error) {
	return openFileNoAtime(path, os.O_RDONLY, 0)
}

// openFileNoAtime is os.OpenFile with O_NOATIME where there is one; bbolt
// opens the database through it.
func openFileNoAtime(path string, flag int, perm os.FileMode) (*os.File, error) {
	if oNoAtime != 0 {
		f, err := os.OpenFile(path, flag|oNoAtime, perm)
		if !errors.Is(err, os.ErrPermission) {
			return f, err
		}
	}
	return os.OpenFile(path, flag, perm)
}

// readDirNoAtime is os.ReadDir without moving the directory's access time.
func readDirNoAtime(dir string) ([]os.DirEntry, error) {
	f, err := OpenNoAtime(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

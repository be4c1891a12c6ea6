package privscan

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"postern/mailbox/store"
)

// FileTime is a file or directory whose modification or access time is not
// a UTC midnight: it dates what happened to it.
const FileTime Kind = "file time finer than a day"

// FileTimes checks the modification and access time of dir and of every file
// and directory under it, before anything is read (reading would move access
// times). Paths in skip, relative to dir with forward slashes, are left out
// with everything under them: what the relay cannot set (tor's own files
// while tor runs, the control socket while the relay runs). Change and birth
// times are not checked: no program can set them (docs/admin.md).
func FileTimes(dir string, skip []string) ([]Hit, error) {
	var hits []Hit
	err := walkNoAtime(dir, dir, skip, func(path string, fi fs.FileInfo) {
		for _, t := range []struct {
			name string
			at   time.Time
		}{{"mtime", fi.ModTime()}, {"atime", accessTime(fi)}} {
			if !t.at.IsZero() && !isMidnight(t.at) {
				hits = append(hits, Hit{FileTime, path + " " + t.name, -1, t.at.UTC().Format(time.RFC3339Nano)})
			}
		}
	})
	return hits, err
}

// walkNoAtime calls fn with the Lstat of path and of everything under it,
// each before its directory is read, and reads directories with O_NOATIME,
// so that the scan itself moves no access time (a scan of a running relay
// is followed by another after it stops).
func walkNoAtime(root, path string, skip []string, fn func(string, fs.FileInfo)) error {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return err
	}
	rel = filepath.ToSlash(rel)
	for _, s := range skip {
		if rel == strings.TrimSuffix(s, "/") {
			return nil
		}
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("privscan: %w", err)
	}
	fn(path, fi)
	if !fi.IsDir() {
		return nil
	}
	d, err := store.OpenNoAtime(path)
	if err != nil {
		return fmt.Errorf("privscan: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("privscan: %w", err)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := walkNoAtime(root, filepath.Join(path, n), skip, fn); err != nil {
			return err
		}
	}
	return nil
}

func isMidnight(t time.Time) bool {
	u := t.UTC()
	return u.Equal(time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC))
}

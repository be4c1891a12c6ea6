package privscan

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
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
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, s := range skip {
			if rel == strings.TrimSuffix(s, "/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		// Lstat now: WalkDir reads a directory only after this returns.
		fi, err := os.Lstat(path)
		if err != nil {
			return fmt.Errorf("privscan: %w", err)
		}
		for _, t := range []struct {
			name string
			at   time.Time
		}{{"mtime", fi.ModTime()}, {"atime", accessTime(fi)}} {
			if !t.at.IsZero() && !isMidnight(t.at) {
				hits = append(hits, Hit{FileTime, path + " " + t.name, -1, t.at.UTC().Format(time.RFC3339Nano)})
			}
		}
		return nil
	})
	return hits, err
}

func isMidnight(t time.Time) bool {
	u := t.UTC()
	return u.Equal(time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC))
}

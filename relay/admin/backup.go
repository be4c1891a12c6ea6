package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"postern/relay/backup"
	"postern/relay/config"
	"postern/relay/identity"
)

// Files of the data directory a backup carries besides the database and the
// blobs: the settings, the onion service keys (without them a restored relay
// would publish new addresses that no source knows) and the instance's
// identity key (so the restored instance signs its next backups as the same
// instance). Tor's own state (DATA/tor) is not carried: tor rebuilds it.
var backupGlobs = []string{
	config.FileName,
	identity.FileName,
	"onion/*.key",
	"onion/*.hostname",
}

// maxBackupFile bounds one of those small files.
const maxBackupFile = 4 << 20

// Backup streams a consistent archive of the instance (relay/backup) to w, while
// the relay keeps running. plan, if set, is called with the archive's expected
// size before the first byte is written. The caller encrypts w (the CLI wraps
// it in OpenPGP to the admin's key): the archive holds the database in clear.
func (a *Admin) Backup(ctx context.Context, w io.Writer, plan func(backup.Plan)) error {
	extra, err := a.backupFiles()
	if err != nil {
		return err
	}
	// bbolt keeps freed pages, with the bytes of deleted records (an expunged
	// message's cache, a deleted reply), until a compaction: compact first so
	// a backup carries nothing that was deleted before it began.
	if err := a.st.Compact(); err != nil {
		return fail(ErrInternal, "backup: compact: %v", err)
	}
	serial, err := a.st.NextBackupSerial()
	if err != nil {
		return fail(ErrInternal, "backup: %v", err)
	}
	sn, err := a.st.Snapshot()
	if err != nil {
		return fail(ErrInternal, "backup: %v", err)
	}
	defer sn.Close()
	src := backup.StoreSnapshot{Snapshot: sn}
	if plan != nil {
		plan(backup.PlanOf(src, extra))
	}
	if _, err := backup.Write(ctx, w, src, backup.WriteOptions{Extra: extra, Now: a.now(), Key: a.id, Serial: serial}); err != nil {
		if ctx.Err() != nil {
			return fail(ErrInternal, "backup cancelled")
		}
		return fail(ErrInternal, "%v", err)
	}
	a.log.Info("backup written")
	return nil
}

// backupFiles reads the small files that go with the database: postern.conf,
// onion keys and addresses, and the archive key when it lies in the data
// directory.
func (a *Admin) backupFiles() ([]backup.File, error) {
	dir := a.st.Dir()
	seen := map[string]bool{}
	var rels []string
	for _, g := range backupGlobs {
		m, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(g)))
		if err != nil {
			return nil, fail(ErrInternal, "backup: %v", err)
		}
		for _, p := range m {
			rel, _ := filepath.Rel(dir, p)
			rels = append(rels, filepath.ToSlash(rel))
		}
	}
	if a.IsDemo() {
		// A demo's journalist key lies in its data directory; without it the
		// restored demo's mail would be unreadable.
		rels = append(rels, demoFiles...)
	}
	if p := a.cfg.ArchiveKeyPath(dir); p != "" {
		if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel) {
			rels = append(rels, filepath.ToSlash(rel))
		} else {
			a.log.Warn("backup: archive_key_file lies outside the data directory and is not in the backup")
		}
	}
	sort.Strings(rels)
	var out []backup.File
	for _, rel := range rels {
		if seen[rel] {
			continue
		}
		seen[rel] = true
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fail(ErrInternal, "backup: %v", err)
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			continue
		}
		b, err := io.ReadAll(io.LimitReader(f, maxBackupFile+1))
		f.Close()
		if err != nil {
			return nil, fail(ErrInternal, "backup: %v", err)
		}
		if len(b) > maxBackupFile {
			return nil, fail(ErrInternal, "backup: %s is larger than %d bytes", rel, maxBackupFile)
		}
		out = append(out, backup.File{Path: rel, Data: b})
	}
	for _, must := range []string{config.FileName, identity.FileName} {
		if !seen[must] {
			return nil, fail(ErrInstance, "backup: %s is missing", filepath.Join(dir, must))
		}
	}
	return out, nil
}

// CheckRestored is the last check of a restore before the directory is moved
// into place: it holds no file a backup does not carry (an archive with
// anything else is refused, whoever signed it), the settings parse and the
// source KDF record matches them, as Open will demand.
func CheckRestored(dir string) error {
	cfg, err := config.Load(dir)
	if err != nil {
		return fmt.Errorf("%w: the restored instance does not open: %v", backup.ErrArchive, err)
	}
	if err := checkRestoredFiles(dir, cfg); err != nil {
		return err
	}
	a, err := Open(dir, Options{})
	if err != nil {
		return fmt.Errorf("%w: the restored instance does not open: %v", backup.ErrArchive, err)
	}
	demo := a.IsDemo()
	a.Close()
	if !demo {
		for _, name := range demoFiles {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				return fmt.Errorf("%w: it holds %s, which only a demo instance has", backup.ErrArchive, name)
			}
		}
	}
	return nil
}

// demoFiles are what a demo instance's backup carries besides backupGlobs.
var demoFiles = []string{"demo-journalist.sec.asc", "demo-journalist.pub.asc"}

// restoredNames are the files of a restored data directory besides blobs.
var restoredNames = map[string]bool{
	backup.DBName:               true,
	config.FileName:             true,
	identity.FileName:           true,
	"onion/intake.key":          true,
	"onion/intake.hostname":     true,
	"onion/journalist.key":      true,
	"onion/journalist.hostname": true,
	demoFiles[0]:                true,
	demoFiles[1]:                true,
}

// checkRestoredFiles refuses any file that `relay backup` does not write: a
// name outside restoredNames, blobs/ (whose files store.Check has matched
// against the database) and the configured archive key.
func checkRestoredFiles(dir string, cfg config.Config) error {
	archiveKey := ""
	if p := cfg.ArchiveKeyPath(dir); p != "" {
		if rel, err := filepath.Rel(dir, p); err == nil {
			archiveKey = filepath.ToSlash(rel)
		}
	}
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || d.IsDir() {
			return err
		}
		rel = filepath.ToSlash(rel)
		blob := strings.HasPrefix(rel, backup.BlobDir+"/") && !strings.Contains(rel[len(backup.BlobDir)+1:], "/")
		if !d.Type().IsRegular() || !restoredNames[rel] && !blob && rel != archiveKey {
			return fmt.Errorf("%w: it holds %q, which no Postern backup carries", backup.ErrArchive, rel)
		}
		return nil
	})
}

package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// SeenFileName is the record of the newest backup day restored per
// instance, kept beside the admin's secret key (restore --seen overrides).
//
// Why there: an old backup is genuine and correctly signed, so nothing in it
// can say that it is old; only a memory outside the archive can. The admin's
// secret key is the one thing every restore of this newsroom's backups must
// bring along, to whichever machine, while the server the backups came from
// may be the thing that was lost. A record beside the key follows the key; a
// record in a fresh target directory would always be empty.
const SeenFileName = "postern-backups-seen.json"

// maxSeenFile bounds the record.
const maxSeenFile = 1 << 20

// seenRecord maps an instance fingerprint to the newest backup day restored,
// and to the highest backup serial restored (backups made the same day
// differ only by it).
type seenRecord struct {
	Instances map[string]string `json:"instances"`
	Serials   map[string]uint64 `json:"serials,omitempty"`
}

// older says whether a backup of instance made on day with serial is older
// than one the record has seen restored.
func (rec seenRecord) older(instance, day string, serial uint64) bool {
	return rec.Instances[instance] > day || serial > 0 && serial < rec.Serials[instance]
}

// seenPath is where restore keeps its record: --seen, else beside the key
// file, else nowhere (a key from standard input, or --plain).
func seenPath(flagValue, keyPath string) string {
	switch {
	case flagValue != "":
		return flagValue
	case keyPath == "" || keyPath == "-":
		return ""
	}
	return filepath.Join(filepath.Dir(keyPath), SeenFileName)
}

func readSeen(path string) (seenRecord, error) {
	rec := seenRecord{Instances: map[string]string{}, Serials: map[string]uint64{}}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return rec, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSeenFile))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("%s: %v", path, err)
	}
	if rec.Instances == nil {
		rec.Instances = map[string]string{}
	}
	if rec.Serials == nil {
		rec.Serials = map[string]uint64{}
	}
	return rec, nil
}

// noteSeen records day and serial for instance where they are newer than
// what the record holds, atomically (temp file, rename).
func noteSeen(path string, rec seenRecord, instance, day string, serial uint64) error {
	if rec.Instances[instance] >= day && rec.Serials[instance] >= serial {
		return nil
	}
	rec.Instances[instance] = max(rec.Instances[instance], day)
	rec.Serials[instance] = max(rec.Serials[instance], serial)
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// The record holds days only; so does its file time.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	os.Chtimes(tmp.Name(), today, today)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

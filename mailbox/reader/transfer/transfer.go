// Package transfer carries synced ciphertext from the online reader home to
// the air-gapped machine on a transfer device (a USB stick, usually FAT).
//
// Export copies each Maildir message not exported before into a new batch
// folder with FAT-safe names and writes, last, a manifest of SHA-256 sums and
// sizes plus the manifest's own sum. A batch without its manifest is an
// interrupted export; the reader on the other side refuses it, and refuses
// any single copy whose size or sum differs (a stick pulled too early, a
// flipped bit, a file changed on the way) while taking the others.
package transfer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// File and folder names on the transfer device.
const (
	Root         = "postern-transfer" // one folder per batch inside
	ManifestFile = "manifest.json"
	ManifestSum  = "manifest.sha256"
	StateFile    = "export-state.json" // in the reader home
)

// Mailboxes are the Maildir folders `relay reader sync` fills.
var mailboxes = []string{"INBOX", "Sent"}

// Entry is one message of a batch.
type Entry struct {
	Name        string `json:"name"` // file name in the batch folder
	Mailbox     string `json:"mailbox"`
	UIDValidity uint32 `json:"uidvalidity"`
	UID         uint32 `json:"uid"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// Key identifies a message across batches: mailbox, UIDVALIDITY and UID.
func (e Entry) Key() string {
	return fmt.Sprintf("%s/%d-%d", e.Mailbox, e.UIDValidity, e.UID)
}

// Manifest lists a batch.
type Manifest struct {
	Version  int     `json:"version"`
	Messages []Entry `json:"messages"`
}

// exportState is what was exported already, by Key.
type exportState struct {
	Exported map[string]bool `json:"exported"`
	Batches  int             `json:"batches"` // numbers the batch folders, so they open in order
}

// maildirName is <UIDVALIDITY>-<UID>:2, (flags may follow the comma).
var maildirName = regexp.MustCompile(`^([0-9]{1,10})-([0-9]{1,10}):2,[A-Za-z]*$`)

// Result says what an export did.
type Result struct {
	Batch    string // folder of the new batch, "" when nothing was new
	Messages int
	Bytes    int64
}

// Export copies what home's Maildir holds and no earlier export carried into
// a new batch under to/postern-transfer. The state is updated only once the
// batch's manifest is on the device, so an interrupted export is redone.
func Export(home, to string) (Result, error) {
	st, err := loadState(filepath.Join(home, StateFile))
	if err != nil {
		return Result{}, err
	}
	var todo []Entry
	var srcs []string
	for _, mb := range mailboxes {
		dir := filepath.Join(home, "maildir", mb, "cur")
		des, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("export: %w", err)
		}
		for _, de := range des {
			m := maildirName.FindStringSubmatch(de.Name())
			if m == nil || !de.Type().IsRegular() {
				continue
			}
			v, _ := strconv.ParseUint(m[1], 10, 32)
			u, _ := strconv.ParseUint(m[2], 10, 32)
			e := Entry{Mailbox: mb, UIDValidity: uint32(v), UID: uint32(u)}
			if st.Exported[e.Key()] {
				continue
			}
			e.Name = fmt.Sprintf("%s-%d-%d.eml", mb, e.UIDValidity, e.UID)
			todo = append(todo, e)
			srcs = append(srcs, filepath.Join(dir, de.Name()))
		}
	}
	if len(todo) == 0 {
		return Result{}, nil
	}
	st.Batches++
	batch, err := newBatch(to, st.Batches)
	if err != nil {
		return Result{}, err
	}
	res := Result{Batch: batch}
	for i := range todo {
		size, sum, err := copyFile(srcs[i], filepath.Join(batch, todo[i].Name))
		if err != nil {
			return Result{}, fmt.Errorf("export: %s: %w", todo[i].Key(), err)
		}
		todo[i].Size, todo[i].SHA256 = size, sum
		res.Messages++
		res.Bytes += size
	}
	if err := writeManifest(batch, Manifest{Version: 1, Messages: todo}); err != nil {
		return Result{}, err
	}
	for _, e := range todo {
		st.Exported[e.Key()] = true
	}
	if err := saveState(filepath.Join(home, StateFile), st); err != nil {
		return Result{}, err
	}
	return res, nil
}

// newBatch makes a fresh batch folder: numbered, so that batches open in the
// order they were made, plus a random part, so that two reader homes
// exporting to the same stick never mix.
func newBatch(to string, n int) (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	dir := filepath.Join(to, Root, fmt.Sprintf("batch-%06d-%s", n, hex.EncodeToString(b)))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	return dir, nil
}

// copyFile copies src to dst through a temp name, synced, and returns the
// size and SHA-256 of what was written.
func copyFile(src, dst string) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	h := sha256.New()
	n, err := writeSynced(dst, io.TeeReader(in, h))
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func writeSynced(dst string, r io.Reader) (int64, error) {
	tmp := dst + ".part"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, nil
}

func writeManifest(batch string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("export: manifest: %w", err)
	}
	b = append(b, '\n')
	if _, err := writeSynced(filepath.Join(batch, ManifestFile), strings.NewReader(string(b))); err != nil {
		return fmt.Errorf("export: manifest: %w", err)
	}
	sum := sha256.Sum256(b)
	line := hex.EncodeToString(sum[:]) + "  " + ManifestFile + "\n"
	if _, err := writeSynced(filepath.Join(batch, ManifestSum), strings.NewReader(line)); err != nil {
		return fmt.Errorf("export: manifest: %w", err)
	}
	return nil
}

func loadState(path string) (exportState, error) {
	st := exportState{Exported: map[string]bool{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("export: state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("export: %s is damaged: %w", path, err)
	}
	if st.Exported == nil {
		st.Exported = map[string]bool{}
	}
	return st, nil
}

func saveState(path string, st exportState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("export: state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("export: state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("export: state: %w", err)
	}
	return nil
}

// Batches lists the batch folders under from/postern-transfer, in name order.
func Batches(from string) ([]string, error) {
	root := filepath.Join(from, Root)
	des, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("transfer: no %s folder in %s: %w", Root, from, err)
	}
	var out []string
	for _, de := range des {
		if de.IsDir() && strings.HasPrefix(de.Name(), "batch-") {
			out = append(out, filepath.Join(root, de.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

package online

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maildir is one mailbox's Maildir under HOME/maildir.
type maildir struct {
	dir string
}

func openMaildir(home, mailbox string) (*maildir, error) {
	m := &maildir{dir: filepath.Join(home, MaildirName, mailbox)}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(m.dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// tmpPrefix names sync's files in tmp/; a run removes those an earlier,
// interrupted run left.
const tmpPrefix = "sync-"

// cleanTmp removes what an interrupted sync left in tmp/. Nothing else
// writes there (the home is locked while a sync runs).
func (m *maildir) cleanTmp() error {
	es, err := os.ReadDir(filepath.Join(m.dir, "tmp"))
	if err != nil {
		return err
	}
	for _, e := range es {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(m.dir, "tmp", e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// curName is the contract with export: cur/UIDVALIDITY-UID:2,
func curName(validity, uid uint32) string {
	return fmt.Sprintf("%d-%d:2,", validity, uid)
}

// have lists the UIDs already in cur/ under validity (any flags after ":2,").
func (m *maildir) have(validity uint32) (map[uint32]bool, error) {
	es, err := os.ReadDir(filepath.Join(m.dir, "cur"))
	if err != nil {
		return nil, err
	}
	out := map[uint32]bool{}
	prefix := strconv.FormatUint(uint64(validity), 10) + "-"
	for _, e := range es {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		num, _, ok := strings.Cut(rest, ":2,")
		if !ok {
			continue
		}
		if uid, err := strconv.ParseUint(num, 10, 32); err == nil {
			out[uint32(uid)] = true
		}
	}
	return out, nil
}

// writeTmp streams r (size bytes exactly, unless size < 0) into a new
// file in tmp/ and fsyncs it. On error nothing is left behind.
func (m *maildir) writeTmp(r io.Reader, size int64, buf []byte) (string, int64, error) {
	tag := make([]byte, 8)
	if _, err := io.ReadFull(rand.Reader, tag); err != nil {
		return "", 0, err
	}
	tmp := filepath.Join(m.dir, "tmp", tmpPrefix+hex.EncodeToString(tag))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, err
	}
	fail := func(err error) (string, int64, error) {
		f.Close()
		os.Remove(tmp)
		return "", 0, err
	}
	n, err := io.CopyBuffer(f, r, buf)
	if err != nil {
		return fail(err)
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("the connection ended %d bytes before its end", size-n))
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", 0, err
	}
	return tmp, n, nil
}

// commit renames a complete file from tmp/ to cur/UIDVALIDITY-UID:2,
func (m *maildir) commit(tmp string, validity, uid uint32) error {
	if err := os.Rename(tmp, filepath.Join(m.dir, "cur", curName(validity, uid))); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// drop removes a file of writeTmp that is not wanted.
func (m *maildir) drop(tmp string) {
	if tmp != "" {
		os.Remove(tmp)
	}
}

// settle fsyncs cur/ and tmp/, so the renames done so far survive a crash.
func (m *maildir) settle() error {
	if err := syncDir(filepath.Join(m.dir, "cur")); err != nil {
		return err
	}
	return syncDir(filepath.Join(m.dir, "tmp"))
}

// State is sync-state.json: per mailbox, the UIDVALIDITY and the highest
// UID below which everything the relay held has been copied.
type State struct {
	Version   int                     `json:"version"`
	Mailboxes map[string]MailboxState `json:"mailboxes"`
}

// MailboxState is one mailbox's progress.
type MailboxState struct {
	UIDValidity uint32 `json:"uidvalidity"`
	HighestUID  uint32 `json:"highest_uid"`
}

func loadState(home string) (State, error) {
	st := State{Version: 1, Mailboxes: map[string]MailboxState{}}
	raw, err := os.ReadFile(filepath.Join(home, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Version != 1 {
		return st, fmt.Errorf("%s is damaged; remove it and the next sync checks every message again (nothing is fetched twice)", filepath.Join(home, StateFile))
	}
	if st.Mailboxes == nil {
		st.Mailboxes = map[string]MailboxState{}
	}
	return st, nil
}

// saveState replaces sync-state.json atomically.
func saveState(home string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(home, StateFile+".tmp")
	os.Remove(tmp)
	if err := writeFileSync(tmp, append(b, '\n')); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(home, StateFile)); err != nil {
		return err
	}
	return syncDir(home)
}

// lockHome takes the home's lock file, so two syncs (or a sync and a send)
// never write the same Maildir at once. The lock ends with the process.
func lockHome(home string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(home, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another `relay reader` sync or send is running on %s", home)
	}
	return func() { f.Close() }, nil
}

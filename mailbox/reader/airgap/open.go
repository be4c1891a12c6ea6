// Package airgap is the offline reader's side on the air-gapped machine:
// Open verifies a transfer, decrypts every message with the journalist's key
// into one folder per source (transcripts, the original files under safe
// names, cleaned copies made in a sandbox), and Reply composes an answer
// encrypted to the source's key for the outbox.
//
// Everything it writes is under the output folder. A message is decrypted as
// a stream, its files into a staging folder there; they are moved into place
// only once OpenPGP's integrity check at the end of the stream passed, so a
// damaged message leaves nothing behind and memory stays flat whatever the
// size of a file.
package airgap

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/reader/sandbox"
	"postern/mailbox/reader/transfer"
)

// Options configure Open.
type Options struct {
	From string             // the transfer device (holds postern-transfer/)
	Out  string             // the output folder
	Keys openpgp.EntityList // the journalist's secret key(s), unlocked
	// Report gets one line per message that could not be opened, and per
	// file that could not be cleaned.
	Report io.Writer
	// Clean is the sandbox's limits; NoClean skips cleaning (benchmarks).
	Clean   sandbox.Options
	NoClean bool
}

// Summary counts what one run did.
type Summary struct {
	Opened, Failed, Skipped int // messages (Skipped: opened by an earlier run)
	Files, Cleaned          int
	Sources                 int // threads touched
}

// Open reads every batch on the transfer device and adds what is new to Out.
func Open(ctx context.Context, o Options) (Summary, error) {
	var sum Summary
	if o.Report == nil {
		o.Report = io.Discard
	}
	if err := os.MkdirAll(filepath.Join(o.Out, stateDir), 0o700); err != nil {
		return sum, err
	}
	st, err := loadState(o.Out)
	if err != nil {
		return sum, err
	}
	batches, err := transfer.Batches(o.From)
	if err != nil {
		return sum, err
	}
	stage, err := os.MkdirTemp(filepath.Join(o.Out, stateDir), "stage-")
	if err != nil {
		return sum, err
	}
	defer os.RemoveAll(stage)
	log, err := os.OpenFile(filepath.Join(o.Out, stateDir, logFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return sum, err
	}
	defer log.Close()
	touched, dirty, nm, sc := map[string]*Thread{}, map[string]*Thread{}, names{}, newScratch()
	var done bytes.Buffer // log lines of messages whose threads are not saved yet
	for _, b := range batches {
		m, err := transfer.ReadManifest(b)
		if err != nil {
			fmt.Fprintf(o.Report, "%s: refused: %v\n", filepath.Base(b), err)
			sum.Failed++
			continue
		}
		for _, e := range m.Messages {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			if _, ok := st.Done[e.Key()]; ok {
				sum.Skipped++
				continue
			}
			item := filepath.Base(b) + "/" + e.Name
			t, n, err := openOne(o, st, touched, nm, b, e, stage, sc)
			if errors.Is(err, transfer.ErrCopy) {
				fmt.Fprintf(o.Report, "%s: refused: %s\n", item, oneLine(err.Error()))
				sum.Failed++
				continue
			}
			if err != nil {
				// One line, whatever a library quoted from the message.
				fmt.Fprintf(o.Report, "%s: not opened: %s\n", item, oneLine(err.Error()))
				sum.Failed++
				continue
			}
			touched[t.Folder] = t
			dirty[t.Folder] = t
			st.Done[e.Key()] = e.SHA256
			sum.Opened++
			sum.Files += n
			fmt.Fprintf(&done, "%s %s %d\n", e.Key(), e.SHA256, st.Seq)
			if sum.Opened%flushEvery == 0 {
				if err := flush(o.Out, dirty, &done, log); err != nil {
					return sum, err
				}
			}
		}
	}
	if err := st.save(o.Out); err != nil {
		return sum, err
	}
	if !o.NoClean {
		if err := addPending(o.Out, st, touched); err != nil {
			return sum, err
		}
	}
	for _, t := range touched {
		sum.Cleaned += cleanFiles(ctx, o, t)
		// A thread flushed since its last change, and not cleaned now,
		// is saved already.
		if _, changed := dirty[t.Folder]; changed || !o.NoClean {
			if err := t.save(o.Out); err != nil {
				return sum, err
			}
		}
		if err := t.render(o.Out); err != nil {
			return sum, err
		}
	}
	// Every thread is saved: now the log may say their messages are opened.
	if _, err := log.Write(done.Bytes()); err != nil {
		return sum, err
	}
	sum.Sources = len(touched)
	return sum, nil
}

// flushEvery is how many messages may be opened between two saves of their
// threads. A run cut short opens those again: their files are found in place
// (same name, same content) and their entries in the threads.
const flushEvery = 500

// flush saves the threads changed, then logs their messages as opened.
func flush(out string, dirty map[string]*Thread, done *bytes.Buffer, log *os.File) error {
	for k, t := range dirty {
		if err := t.save(out); err != nil {
			return err
		}
		delete(dirty, k)
	}
	if _, err := log.Write(done.Bytes()); err != nil {
		return err
	}
	done.Reset()
	return nil
}

// openOne decrypts one message into its source's folder and returns the
// thread and the number of files saved. The copy is checked against the
// manifest as it is decrypted (one read, not two); nothing is placed unless
// both the manifest's sum and OpenPGP's integrity check hold, and a copy
// that differs from the manifest is reported as such (transfer.ErrCopy).
func openOne(o Options, st *state, touched map[string]*Thread, nm names, batch string, te transfer.Entry, stage string, sc *scratch) (*Thread, int, error) {
	c, err := transfer.OpenCopy(batch, te)
	if err != nil {
		return nil, 0, err
	}
	m, err := decryptMessage(c, o.Keys, stage, sc)
	if verr := c.Close(); verr != nil {
		if m != nil {
			m.discard()
		}
		return nil, 0, verr
	}
	if err != nil {
		return nil, 0, err
	}
	defer m.discard() // whatever was not moved into place
	mailbox := te.Mailbox
	role, addr, name := RoleSource, m.FromAddr, m.FromName
	if mailbox == "Sent" || strings.HasPrefix(m.FromAddr, "newsroom@") || m.FromAddr == "" {
		role, addr, name = RoleNewsroom, m.ToAddr, m.ToName
	}
	if addr == "" {
		return nil, 0, fmt.Errorf("%w (no source address)", ErrNotEncrypted)
	}
	t, err := threadFor(o.Out, st, touched, addr, name)
	if err != nil {
		return nil, 0, err
	}
	if role == RoleSource && m.Autocrypt != "" {
		t.Autocrypt = m.Autocrypt
	}
	st.Seq++
	e := Entry{Seq: st.Seq, Role: role, Day: m.Day, MessageID: m.MessageID, InReplyTo: m.InReplyTo,
		Subject: m.Subject, Text: m.Text}
	if t.has(e) {
		return t, 0, nil // the same mail seen in another mailbox
	}
	files := filepath.Join(o.Out, t.Folder, "files")
	for _, sf := range m.Files {
		dst, err := nm.place(files, sf)
		if err != nil {
			return nil, 0, err
		}
		os.Chmod(dst, 0o400) // the original is never changed, by us or by mistake
		e.Files = append(e.Files, File{Name: filepath.Base(dst), Orig: sf.Orig, Type: sf.Type, Size: sf.Size, SHA256: sf.SHA256})
	}
	t.add(e)
	return t, len(e.Files), nil
}

// threadFor returns the thread of a source address, creating its folder the
// first time (a second source with the same designation gets name-2).
func threadFor(out string, st *state, touched map[string]*Thread, addr, designation string) (*Thread, error) {
	if designation == "" {
		designation = strings.SplitN(addr, "@", 2)[0]
	}
	if folder, ok := st.Sources[addr]; ok {
		if t := touched[folder]; t != nil {
			return t, nil
		}
		t := &Thread{}
		err := loadJSON(threadPath(out, folder), t)
		if errors.Is(err, fs.ErrNotExist) {
			// A run cut before its first save of this thread (threads and
			// the log wait for a flush): none of its messages was logged,
			// so all are opened again, into a thread begun anew.
			return &Thread{Designation: designation, Address: addr, Folder: folder}, nil
		}
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	base := folderName(designation)
	used := map[string]bool{}
	for _, f := range st.Sources {
		used[f] = true
	}
	folder := base
	for n := 2; used[folder]; n++ {
		folder = fmt.Sprintf("%s-%d", base, n)
	}
	for _, sub := range []string{"files", "safe"} {
		if err := os.MkdirAll(filepath.Join(out, folder, sub), 0o700); err != nil {
			return nil, err
		}
	}
	st.Sources[addr] = folder
	if err := st.save(out); err != nil {
		return nil, err
	}
	return &Thread{Designation: designation, Address: addr, Folder: folder}, nil
}

// addPending adds to touched the threads with files an earlier run did not
// clean (it ran with NoClean, or was interrupted).
func addPending(out string, st *state, touched map[string]*Thread) error {
	for _, folder := range st.Sources {
		if touched[folder] != nil {
			continue
		}
		t := &Thread{}
		if err := loadJSON(threadPath(out, folder), t); err != nil {
			return err
		}
		for _, e := range t.Entries {
			for _, f := range e.Files {
				if f.Status == "" {
					touched[folder] = t
				}
			}
		}
	}
	return nil
}

// cleanFiles runs the sandboxed cleaner on every file of t not tried yet and
// returns how many it cleaned.
func cleanFiles(ctx context.Context, o Options, t *Thread) int {
	if o.NoClean {
		return 0
	}
	work := filepath.Join(o.Out, stateDir, "clean-"+randomHex())
	if err := os.Mkdir(work, 0o700); err != nil {
		return 0
	}
	defer os.RemoveAll(work)
	n := 0
	for i := range t.Entries {
		for j := range t.Entries[i].Files {
			f := &t.Entries[i].Files[j]
			if f.Status != "" {
				continue
			}
			src := filepath.Join(o.Out, t.Folder, "files", f.Name)
			dst := filepath.Join(o.Out, t.Folder, "safe", f.Name)
			res := sandbox.Clean(ctx, o.Clean, src, dst, work)
			if res.Cleaned {
				f.Status = "cleaned"
				n++
				continue
			}
			f.Status = res.Why
			fmt.Fprintf(o.Report, "%s/files/%s: not cleaned: %s\n", t.Folder, f.Name, res.Why)
		}
	}
	return n
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

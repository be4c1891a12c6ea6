package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

type readerSyncResult struct {
	reader, mbsync time.Duration // wall time of the faster of syncRuns full syncs
	readerCPU      time.Duration // the reader's own CPU (user+system) in that run
	bytes          int64         // the mailbox as stored
}

// benchReaderSync fills a journalist's INBOX with n submissions of the
// realistic mix (as benchSync does) and times full syncs from the same
// running relay into empty folders: mbsync into a Maildir, and `relay
// reader sync --direct` into a new reader home (INBOX and an empty Sent;
// every file fsynced, as mbsync's default FSync does).
func (e *env) benchReaderSync(n int) (readerSyncResult, error) {
	var r readerSyncResult
	mbsync, err := need("mbsync")
	if err != nil {
		return r, err
	}
	in, err := e.newInstance("readersync", defaultPasswordKDF, 1)
	if err != nil {
		return r, err
	}
	if r.bytes, err = fill(in, n, filepath.Join(e.work, "readersync", "fill-copy")); err != nil {
		return r, err
	}
	os.RemoveAll(filepath.Join(e.work, "readersync", "fill-copy"))
	p, err := e.start(in)
	if err != nil {
		return r, err
	}
	defer p.stop()
	j := in.js[0]
	if r.mbsync, _, err = bestSync(mbsync, e.work, p.info.IMAPAddr, j.name, j.pass, n, 0); err != nil {
		return r, fmt.Errorf("mbsync: %w", err)
	}
	for i := range syncRuns {
		dir, err := os.MkdirTemp(e.work, "reader-")
		if err != nil {
			return r, err
		}
		home, pf := filepath.Join(dir, "home"), filepath.Join(dir, "pass")
		os.WriteFile(pf, []byte(j.pass+"\n"), 0o600)
		if _, err := e.run(nil, "reader", "init", "--dir", home, "--user", j.name); err != nil {
			return r, err
		}
		cmd := exec.Command(e.relay, "reader", "sync", "--dir", home, "--direct", p.info.IMAPAddr, "--passphrase-file", pf)
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(t0)
		if err != nil {
			return r, fmt.Errorf("reader sync: %v\n%s", err, out)
		}
		es, _ := os.ReadDir(filepath.Join(home, "maildir", "INBOX", "cur"))
		if len(es) != n {
			return r, fmt.Errorf("reader sync fetched %d messages, want %d", len(es), n)
		}
		if i == 0 || took < r.reader {
			r.reader = took
			r.readerCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		os.RemoveAll(dir)
	}
	return r, nil
}

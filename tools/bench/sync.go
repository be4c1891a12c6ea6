package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"postern/mailbox/delivery"
	"postern/mailbox/store"
	"postern/tools/dovecot"
)

type syncResult struct {
	postern, dovecot time.Duration
}

// syncRuns is how many full syncs each server gets; the fastest counts, so
// a first-touch cost (Dovecot builds its index on first access, the page
// cache warms) does not decide the comparison.
const syncRuns = 2

// benchSync fills a journalist's INBOX with n submissions made by the same
// delivery code the form uses (store opened directly, before the relay
// starts, so filling does not take n HTTP round trips), copies the very same
// mails into a Maildir for a throwaway Dovecot on loopback, and times a
// full mbsync pull from each into an empty local Maildir.
//
// With profileDir set, the relay process is then stopped and one more sync
// runs against relay/serve.Run inside this process under the CPU profiler.
func (e *env) benchSync(n int, profileDir string) (syncResult, error) {
	var r syncResult
	mbsync, err := need("mbsync")
	if err != nil {
		return r, err
	}
	dovecotBin, err := need("dovecot")
	if err != nil {
		return r, err
	}
	in, err := e.newInstance("sync", cheapKDF, 1)
	if err != nil {
		return r, err
	}
	dv, err := dovecot.Start(dovecotBin)
	if err != nil {
		return r, err
	}
	defer dv.Stop()
	if err := fill(in, n, filepath.Join(dv.Home, "alice", "Maildir")); err != nil {
		return r, err
	}
	dv.Chown()
	p, err := e.start(in)
	if err != nil {
		return r, err
	}
	defer p.stop()

	r.postern, err = bestSync(mbsync, e.work, p.info.IMAPAddr, in.js[0].name, in.js[0].pass, n)
	if err != nil {
		return r, fmt.Errorf("postern: %w", err)
	}
	r.dovecot, err = bestSync(mbsync, e.work, dv.Addr, "alice", dovecot.Password, n)
	if err != nil {
		return r, fmt.Errorf("dovecot: %w", err)
	}
	if profileDir == "" {
		return r, nil
	}
	p.stop()
	info, stop, err := inProcess(in.dir)
	if err != nil {
		return r, err
	}
	defer stop()
	err = profile(profileDir, "sync", fmt.Sprintf("an mbsync full sync of %d messages (IMAP server in-process)", n), func() error {
		_, err := bestSync(mbsync, e.work, info.IMAPAddr, in.js[0].name, in.js[0].pass, n)
		return err
	})
	return r, err
}

// fill delivers n text submissions (about 2 KB of prose each, ZLIB on as in
// the relay) and writes each resulting mail to maildir/cur as well.
func fill(in *instance, n int, maildir string) error {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, d), 0o755); err != nil {
			return err
		}
	}
	st, err := store.Open(in.dir, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	src := store.Source{ID: make([]byte, 32), Designation: "bench source", Address: "bench-source@postern.local"}
	copy(src.ID, "postern bench source id")
	if err := st.CreateSource(src); err != nil {
		return err
	}
	d := delivery.New(delivery.Options{Store: st, Domain: "postern.local", Compress: true})
	ctx := context.Background()
	for i := range n {
		tx, err := d.Start(ctx, delivery.Submission{Source: src})
		if err != nil {
			return err
		}
		text, _ := io.ReadAll(textReader(int64(i), 2000))
		if err := tx.Text(string(text)); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		if i%1000 == 999 {
			progress("sync: %d of %d messages delivered", i+1, n)
		}
	}
	ms, err := st.Messages(in.js[0].name, "INBOX")
	if err != nil {
		return err
	}
	if len(ms) != n {
		return fmt.Errorf("INBOX holds %d messages, want %d", len(ms), n)
	}
	for i, m := range ms {
		f, err := st.OpenBlob(m.Blob.ID)
		if err != nil {
			return err
		}
		err = writeFile(filepath.Join(maildir, "cur", fmt.Sprintf("%d.M%dP1.bench:2,", 1700000000+i, i)), f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// bestSync runs syncRuns full syncs into fresh Maildirs and returns the
// fastest, after checking the message count.
func bestSync(mbsync, work, addr, user, pass string, n int) (time.Duration, error) {
	var best time.Duration
	for i := range syncRuns {
		dir, err := os.MkdirTemp(work, "mbsync-")
		if err != nil {
			return 0, err
		}
		md := filepath.Join(dir, "mail")
		os.MkdirAll(md, 0o700)
		pf := filepath.Join(dir, "pass")
		os.WriteFile(pf, []byte(pass), 0o600)
		host, port, _ := strings.Cut(addr, ":")
		conf := "IMAPAccount a\nHost " + host + "\nPort " + port + "\nUser " + user +
			"\nPassCmd \"cat " + pf + "\"\nSSLType None\nAuthMechs LOGIN\n\n" +
			"IMAPStore remote\nAccount a\n\nMaildirStore local\nPath " + md + "/\nInbox " + md + "/INBOX\n\n" +
			"Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSync Pull\nSyncState *\n"
		rc := filepath.Join(dir, "mbsyncrc")
		os.WriteFile(rc, []byte(conf), 0o600)
		t0 := time.Now()
		out, err := exec.Command(mbsync, "-q", "-c", rc, "-a").CombinedOutput()
		took := time.Since(t0)
		if err != nil {
			return 0, fmt.Errorf("mbsync: %v\n%s", err, out)
		}
		got := 0
		for _, sub := range []string{"new", "cur"} {
			es, _ := os.ReadDir(filepath.Join(md, "INBOX", sub))
			got += len(es)
		}
		if got != n {
			return 0, fmt.Errorf("mbsync fetched %d messages, want %d", got, n)
		}
		if i == 0 || took < best {
			best = took
		}
		os.RemoveAll(dir)
	}
	return best, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"postern/mailbox/delivery"
	"postern/mailbox/store"
	"postern/tools/corpus"
	"postern/tools/dovecot"
)

type syncResult struct {
	// Wall time of the faster sync, and the server's CPU (user+system of
	// the relay, of Dovecot's process tree) during it: the relay with
	// COMPRESS=DEFLATE (mbsync's default when offered), Dovecot as
	// configured for the client suite (no COMPRESS), Dovecot with imap_zlib
	// (COMPRESS); the last is zero when its plugin is missing.
	postern, dovecot, dovecotZ          time.Duration
	posternCPU, dovecotCPU, dovecotZCPU time.Duration
	bytes                               int64 // the mailbox as stored
	// The relay's VmRSS before the syncs, its highest during them (sampled
	// VmRSS and the kernel's VmHWM), and after them once settled; Dovecot's
	// highest sum over its processes during its syncs.
	idle, hwm, peak, after int64
	peakRSS, dovecotPeak   rssParts
}

// defaultPasswordKDF leaves journalist passwords at the relay's argon2id
// settings (t=3, 64 MiB): each mbsync login derives once, as in a newsroom,
// and its memory is part of what the RSS row measures (Dovecot's static
// test password costs nothing). Codenames stay cheap: no source logs in.
const defaultPasswordKDF = `source_kdf_time = 1
source_kdf_memory_kib = 8192
`

// Memory goal of the sync (issue 13).
const (
	syncRSSGoal = 96 << 20
	// nearIdle is how close to idle the relay must come back after the
	// sync; settleWait is how long it gets to do so.
	nearIdle   = 16 << 20
	settleWait = 30 * time.Second
)

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
func (e *env) benchSync(n int, profileDir string, dovecotZ bool) (syncResult, error) {
	var r syncResult
	mbsync, err := need("mbsync")
	if err != nil {
		return r, err
	}
	dovecotBin, err := need("dovecot")
	if err != nil {
		return r, err
	}
	in, err := e.newInstance("sync", defaultPasswordKDF, 1)
	if err != nil {
		return r, err
	}
	dv, err := dovecot.Start(dovecotBin)
	if err != nil {
		return r, err
	}
	defer dv.Stop()
	if r.bytes, err = fill(in, n, filepath.Join(dv.Home, "alice", "Maildir")); err != nil {
		return r, err
	}
	dv.Chown()
	p, err := e.start(in)
	if err != nil {
		return r, err
	}
	defer p.stop()

	time.Sleep(time.Second)
	if r.idle, _, err = memory(p.pid()); err != nil {
		return r, err
	}
	sp := sampleRSS(func() []int { return []int{p.pid()} })
	r.postern, r.posternCPU, err = bestSync(mbsync, e.work, p.info.IMAPAddr, in.js[0].name, in.js[0].pass, n, p.pid())
	r.peakRSS = sp.done()
	if err != nil {
		return r, fmt.Errorf("postern: %w", err)
	}
	if _, r.hwm, err = memory(p.pid()); err != nil {
		return r, err
	}
	r.peak = max(r.peakRSS.rss, r.hwm)
	r.after = settledRSS(p.pid(), r.idle, nearIdle, settleWait)
	sd := sampleRSS(func() []int { return processTree(dv.PID()) })
	r.dovecot, r.dovecotCPU, err = bestSync(mbsync, e.work, dv.Addr, "alice", dovecot.Password, n, dv.PID())
	r.dovecotPeak = sd.done()
	if err != nil {
		return r, fmt.Errorf("dovecot: %w", err)
	}
	if !dovecotZ {
		progress("sync: Dovecot with COMPRESS skipped (-sync-dovecot-compress=false)")
	} else if r.dovecotZ, r.dovecotZCPU, err = syncCompressedDovecot(dovecotBin, mbsync, e.work, dv, n); err != nil {
		return r, fmt.Errorf("dovecot with COMPRESS: %w", err)
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
	title := fmt.Sprintf("an mbsync full sync of %d messages (IMAP server in-process)", n)
	err = profile(profileDir, "sync", title, func() error {
		_, _, err := bestSync(mbsync, e.work, info.IMAPAddr, in.js[0].name, in.js[0].pass, n, 0)
		return err
	})
	if err != nil {
		return r, err
	}
	err = heapProfile(profileDir, "sync", title, func() error {
		_, _, err := bestSync(mbsync, e.work, info.IMAPAddr, in.js[0].name, in.js[0].pass, n, 0)
		return err
	})
	return r, err
}

// fill delivers n submissions of the realistic size mix (tools/corpus),
// each a short note with an attachment of incompressible bytes (photos,
// PDFs, archives) sized so that the mail as stored is about the size the
// mix gives: every message its own blob, as form submissions are. It goes
// through the form's delivery code (ZLIB on, as in the relay) on two
// goroutines, and writes each resulting mail to maildir/cur as well. It
// returns the bytes stored.
func fill(in *instance, n int, maildir string) (int64, error) {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, d), 0o755); err != nil {
			return 0, err
		}
	}
	st, err := store.Open(in.dir, store.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	src := store.Source{ID: make([]byte, 32), Designation: "bench source", Address: "bench-source@postern.local"}
	copy(src.ID, "postern bench source id")
	if err := st.CreateSource(src); err != nil {
		return 0, err
	}
	d := delivery.New(delivery.Options{Store: st, Domain: "postern.local", Compress: true})
	sizes := corpus.Sizes(n)
	var next, done atomic.Int64
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			// One endless generator per worker: a generator cut short
			// by a LimitReader leaves its goroutine blocked for good.
			prose := textReader(int64(w), math.MaxInt64)
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if errs[w] = deliverSized(context.Background(), d, src, prose, i, sizes[i]); errs[w] != nil {
					next.Store(int64(n)) // stops the other worker too
					return
				}
				if k := done.Add(1); k%1000 == 0 {
					progress("sync: %d of %d messages delivered", k, n)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	ms, err := st.Messages(in.js[0].name, "INBOX")
	if err != nil {
		return 0, err
	}
	if len(ms) != n {
		return 0, fmt.Errorf("INBOX holds %d messages, want %d", len(ms), n)
	}
	var total int64
	for i, m := range ms {
		f, err := st.OpenBlob(m.Blob.ID)
		if err != nil {
			return 0, err
		}
		err = writeFile(filepath.Join(maildir, "cur", fmt.Sprintf("%d.M%dP1.bench:2,", 1700000000+i, i)), f)
		f.Close()
		if err != nil {
			return 0, err
		}
		total += m.Blob.Size
	}
	return total, nil
}

// Sizing of fill's mails: a note alone is about noteMail bytes as stored,
// and an incompressible attachment grows the mail by about 1.37× its size
// (base64 inside the encryption, ZLIB takes back only its 6-of-8 bits,
// ASCII armor outside).
const (
	noteBytes = 1200
	noteMail  = 2400
)

// deliverSized delivers submission i: a note read from prose and, past noteMail, an
// attachment of random bytes so that the stored mail is about size bytes.
func deliverSized(ctx context.Context, d *delivery.Deliverer, src store.Source, prose io.Reader, i, size int) error {
	tx, err := d.Start(ctx, delivery.Submission{Source: src})
	if err != nil {
		return err
	}
	defer tx.Abort()
	text := make([]byte, noteBytes)
	if _, err := io.ReadFull(prose, text); err != nil {
		return err
	}
	if err := tx.Text(string(text)); err != nil {
		return err
	}
	if att := int64(size-noteMail) * 100 / 137; att > 0 {
		w, err := tx.File(fmt.Sprintf("attachment-%d.bin", i), "application/octet-stream")
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, randomReader(uint64(i), att)); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// syncCompressedDovecot serves the Maildir of dv (hard links to its files)
// from a second Dovecot that loads imap_zlib, and syncs from it as
// bestSync does. Without the plugin it returns zeros.
func syncCompressedDovecot(dovecotBin, mbsync, work string, dv *dovecot.Server, n int) (time.Duration, time.Duration, error) {
	if _, err := os.Stat("/usr/lib/dovecot/modules/lib30_imap_zlib_plugin.so"); err != nil {
		progress("sync: Dovecot's imap_zlib plugin is missing; no Dovecot COMPRESS run")
		return 0, 0, nil
	}
	dz, err := dovecot.StartWith(dovecotBin, dovecot.Options{Compress: true})
	if err != nil {
		return 0, 0, err
	}
	defer dz.Stop()
	from, to := filepath.Join(dv.Home, "alice", "Maildir"), filepath.Join(dz.Home, "alice", "Maildir")
	err = filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if d.Type().IsRegular() && filepath.Base(filepath.Dir(p)) == "cur" {
			return os.Link(p, filepath.Join(to, rel))
		}
		return nil // Dovecot's own index and uidlist: the second one makes its own
	})
	if err != nil {
		return 0, 0, err
	}
	dz.Chown()
	return bestSync(mbsync, work, dz.Addr, "alice", dovecot.Password, n, dz.PID())
}

// bestSync runs syncRuns full syncs into fresh Maildirs and returns the
// fastest's wall time, after checking the message count, and the least CPU
// that the server (root's process tree; none when root is 0) used for one:
// the relay's first sync includes the argon2id derivation of its login (the
// second is served by the login cache), Dovecot's first its indexing.
func bestSync(mbsync, work, addr, user, pass string, n, root int) (time.Duration, time.Duration, error) {
	var best, bestCPU time.Duration
	for i := range syncRuns {
		dir, err := os.MkdirTemp(work, "mbsync-")
		if err != nil {
			return 0, 0, err
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
		var cpu0, cpu1 time.Duration
		if root > 0 {
			if cpu0, err = treeCPU(root); err != nil {
				return 0, 0, err
			}
		}
		t0 := time.Now()
		cmd := exec.Command(mbsync, "-q", "-c", rc, "-a")
		out, err := cmd.CombinedOutput()
		took := time.Since(t0)
		if err != nil {
			return 0, 0, fmt.Errorf("mbsync: %v\n%s", err, out)
		}
		// The client's own CPU: inflating COMPRESS costs it what the
		// server saves on the wire, and bounds the wall time on 2 cores.
		progress("sync: mbsync %s took %.2fs, %.2fs of its own CPU", addr, took.Seconds(),
			(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
		if root > 0 {
			// Dovecot's imap process has ended or is ending: its CPU
			// is counted once its master reaps it.
			time.Sleep(200 * time.Millisecond)
			if cpu1, err = treeCPU(root); err != nil {
				return 0, 0, err
			}
		}
		got := 0
		for _, sub := range []string{"new", "cur"} {
			es, _ := os.ReadDir(filepath.Join(md, "INBOX", sub))
			got += len(es)
		}
		if got != n {
			return 0, 0, fmt.Errorf("mbsync fetched %d messages, want %d", got, n)
		}
		if i == 0 || took < best {
			best = took
		}
		if cpu := cpu1 - cpu0; i == 0 || cpu < bestCPU {
			bestCPU = cpu
		}
		os.RemoveAll(dir)
	}
	return best, bestCPU, nil
}

package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"postern/mailbox/pgp"
	"postern/relay/admin"
	"postern/relay/backup"
	"postern/relay/config"
	"postern/relay/identity"
)

// maxSecretKeyFile bounds what is read as the admin's secret key.
const maxSecretKeyFile = 1 << 20

// maxPassphrase bounds a passphrase line.
const maxPassphrase = 4096

func (r *runner) cmdBackup(args []string) error {
	const cmd = "backup"
	f := r.newFlags(cmd, true)
	out := f.String("out", "", "file to write (must not exist)")
	to := f.String("to", "", "the admin's OpenPGP public key file, or - for stdin")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	if *out == "" {
		return usagef(cmd, "%s: --out FILE is required", cmd)
	}
	if *to == "" {
		return usagef(cmd, "%s: --to ADMINKEY.asc is required: backups are always encrypted", cmd)
	}
	kb, err := r.readKey(cmd, *to)
	if err != nil {
		return err
	}
	key, info, err := pgp.ParsePublicKey(kb)
	if err != nil {
		return fmt.Errorf("--to %s: %v", *to, err)
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%s already exists; backup never overwrites a file", *out)
	}
	ops, done, err := r.ops(*f.data)
	if err != nil {
		return err
	}
	defer done()

	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".partial-*")
	if err != nil {
		return fmt.Errorf("cannot create the backup file: %v", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	enc, err := backup.Encrypt(bw, key)
	if err != nil {
		return err
	}
	prog := r.newProgress("backup")
	// The archive passes through a verifier on its way into the encryption:
	// a stream the relay cut short, or a damaged one, is never kept as a backup.
	pr, pw := io.Pipe()
	type verified struct {
		m   backup.Manifest
		err error
	}
	vc := make(chan verified, 1)
	go func() {
		// Any instance: the relay signed with its own key; what matters
		// here is that the signature is there and verifies.
		m, err := backup.Verify(r.env.Context, io.TeeReader(pr, enc), backup.ExtractOptions{Progress: prog.update, AnyInstance: true})
		if err != nil {
			pr.CloseWithError(err)
		}
		vc <- verified{m, err}
	}()
	berr := ops.Backup(r.env.Context, pw, func(p backup.Plan) { prog.setTotal(p.Bytes) })
	pw.CloseWithError(berr)
	v := <-vc
	prog.finish(berr == nil && v.err == nil)
	if berr != nil {
		return fmt.Errorf("backup failed, nothing written: %w", berr)
	}
	if v.err != nil {
		return fmt.Errorf("backup failed, nothing written: the archive did not verify: %v", v.err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("backup failed, nothing written: %v", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("backup failed, nothing written: %v", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("backup failed, nothing written: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup failed, nothing written: %v", err)
	}
	// Link, not rename: it refuses to replace a file made meanwhile. Where
	// the filesystem has no hard links, rename after checking again.
	if err := os.Link(tmp.Name(), *out); err != nil {
		if _, serr := os.Lstat(*out); !errors.Is(serr, os.ErrNotExist) {
			return fmt.Errorf("backup failed, nothing written: %v", err)
		}
		if err := os.Rename(tmp.Name(), *out); err != nil {
			return fmt.Errorf("backup failed, nothing written: %v", err)
		}
	} else {
		os.Remove(tmp.Name())
	}
	ok = true
	syncDir(filepath.Dir(*out))
	var bytes int64
	blobs := 0
	for _, e := range v.m.Files {
		bytes += e.Size
		if filepath.Dir(e.Path) == backup.BlobDir {
			blobs++
		}
	}
	if *f.json {
		return r.printJSON(map[string]any{"out": *out, "files": len(v.m.Files), "blobs": blobs, "bytes": bytes,
			"encrypted_to": info.Fingerprint, "instance_fingerprint": v.m.Instance, "backup_day": v.m.Created})
	}
	fmt.Fprintf(r.env.Stdout, "Backup of %s written to %s: %d files (%d message and reply blobs), %s, encrypted to %s,\n"+
		"signed by this instance: %s\n"+
		"Restore with: relay restore --in %s --data NEW-DIR --key SECRET-KEY.asc --instance %s\n"+
		"Keep the instance fingerprint apart from the backups (it is not secret): restore trusts only it.\n",
		v.m.Created, *out, len(v.m.Files), blobs, humanBytes(bytes), info.Fingerprint, v.m.Instance, *out, v.m.Instance)
	return nil
}

func (r *runner) cmdRestore(args []string) error {
	const cmd = "restore"
	f := r.newFlags(cmd, true)
	in := f.String("in", "", "backup file, or - for stdin")
	keyPath := f.String("key", "", "the admin's OpenPGP secret key file, or - for stdin")
	plain := f.Bool("plain", false, "the input is an archive already decrypted (gpg --decrypt FILE | relay restore --in - --plain)")
	instance := f.String("instance", "", "fingerprint of the instance the backup must come from (relay backup and relay status print it)")
	trustAny := f.Bool("trust-any-instance", false, "DANGEROUS: restore a backup whatever instance signed it, or an unsigned one made before backups were signed")
	seen := f.String("seen", "", "record of the newest backup restored per instance (default: "+SeenFileName+" beside --key)")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	switch {
	case *in == "":
		return usagef(cmd, "%s: --in FILE is required (use - for stdin)", cmd)
	case *plain && *keyPath != "":
		return usagef(cmd, "%s: --plain and --key exclude each other", cmd)
	case !*plain && *keyPath == "":
		return usagef(cmd, "%s: --key SECRETKEY.asc is required (or --plain for an archive decrypted with gpg)", cmd)
	case *in == "-" && *keyPath == "-":
		return usagef(cmd, "%s: --in and --key cannot both be standard input", cmd)
	case *instance != "" && *trustAny:
		return usagef(cmd, "%s: --instance and --trust-any-instance exclude each other", cmd)
	case *instance == "" && !*trustAny:
		return usagef(cmd, "%s: --instance FINGERPRINT is required: restore accepts only a backup signed by the instance you name "+
			"(relay backup printed it); --trust-any-instance skips that check", cmd)
	}
	eo := backup.ExtractOptions{AnyInstance: *trustAny, Unsigned: *trustAny}
	if *instance != "" {
		fp, err := identity.ParseFingerprint(*instance)
		if err != nil {
			return usagef(cmd, "%s: --instance: %v", cmd, err)
		}
		eo.Instance = fp
	}
	target, err := filepath.Abs(*f.data)
	if err != nil {
		return err
	}
	if err := backup.CheckTarget(target); err != nil {
		return fmt.Errorf("restore refused: %v", err)
	}
	var input io.Reader = r.env.Stdin
	var total int64
	if *in != "-" {
		fin, err := os.Open(*in)
		if err != nil {
			return fmt.Errorf("cannot read the backup: %v", err)
		}
		defer fin.Close()
		if fi, err := fin.Stat(); err == nil && fi.Mode().IsRegular() {
			total = fi.Size()
		}
		input = fin
	}
	prog := r.newProgress("restore")
	prog.setTotal(total)
	src := io.Reader(&progressReader{r: bufio.NewReaderSize(input, 1<<20), p: prog})
	if !*plain {
		kb, err := r.readSecretKey(*keyPath)
		if err != nil {
			return err
		}
		keys, err := backup.ReadSecretKey(kb, r.passphrase(*keyPath == "-" || *in == "-"))
		clear(kb)
		if err != nil {
			return fmt.Errorf("restore refused, %s unchanged: %v", target, err)
		}
		if src, err = backup.Decrypt(src, keys); err != nil {
			return fmt.Errorf("restore refused, %s unchanged: %v", target, err)
		}
	}
	man, err := backup.Restore(r.env.Context, src, target, backup.RestoreOptions{ExtractOptions: eo, Check: admin.CheckRestored})
	prog.finish(err == nil)
	if err != nil {
		return fmt.Errorf("restore refused, %s unchanged: %v", target, err)
	}
	return r.restored(target, man, *trustAny, seenPath(*seen, *keyPath), f)
}

// backupName names a backup by its day and, when it has one, its serial.
func backupName(day string, serial uint64) string {
	if serial == 0 {
		return "of " + day
	}
	return fmt.Sprintf("number %d, of %s", serial, day)
}

// restored reports a finished restore: the backup's day, where it comes
// from, and loud warnings for what the admin must look at before serving it.
func (r *runner) restored(target string, man backup.Manifest, trustAny bool, seenFile string, f *flags) error {
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	signer := man.Instance
	if trustAny {
		if signer == "" {
			warn("--trust-any-instance: this backup is NOT signed (made before backups were signed): nothing says where it comes from")
		} else {
			warn("--trust-any-instance: this backup is signed by instance %s, and that was NOT checked against the instance you expect", signer)
		}
	}
	newest := ""
	if seenFile != "" && signer != "" {
		rec, err := readSeen(seenFile)
		if err != nil {
			warn("the record of earlier restores could not be read (%v): the backup's age was not checked", err)
		} else {
			newest = rec.Instances[signer]
			if rec.older(signer, man.Created, man.Serial) {
				warn("this backup is OLDER than one of this instance already restored here: it is backup %s, the newest restored was backup %s "+
					"(record: %s). An old backup brings back journalists, passphrases and onion keys that were removed or replaced since; "+
					"unless you meant to go back, remove %s and restore the newest backup",
					backupName(man.Created, man.Serial), backupName(newest, rec.Serials[signer]), seenFile, target)
			}
			if err := noteSeen(seenFile, rec, signer, man.Created, man.Serial); err != nil {
				warn("the record of restored backups could not be written (%v)", err)
			}
		}
	} else if signer != "" {
		warn("no record of earlier restores was checked (the key came from standard input or --plain was used; --seen FILE keeps one): make sure this is the newest backup")
	}
	current := ""
	if k, err := identity.Load(target); err == nil {
		current = k.Fingerprint().String()
	}
	if signer == "" && current != "" {
		warn("the restored instance had no identity key and got a new one: %s; its backups are signed with it from now on", current)
	}
	var torExtra []string
	if cfg, err := config.Load(target); err == nil {
		torExtra = cfg.TorExtraBeyondTestNetwork(target)
		// An archive key receives every submission: say whose it is, so a
		// key planted in a backup does not read the newsroom's mail unseen.
		if path := cfg.ArchiveKeyPath(target); path != "" {
			warn("the restored postern.conf gives every submission to the archive key in %s: check that it is the newsroom's own offline key", path)
		}
	}
	if len(torExtra) > 0 {
		warn("the restored postern.conf sets %d tor_extra line(s) that are not a test-network include (%q…): relay serve refuses them unless --allow-tor-extra is given; remove what you did not write",
			len(torExtra), torExtra[0])
	}
	blobs := 0
	for _, e := range man.Files {
		if filepath.Dir(e.Path) == backup.BlobDir {
			blobs++
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(r.env.Stderr, "WARNING: %s\n", w)
	}
	if *f.json {
		return r.printJSON(map[string]any{"data_dir": target, "files": len(man.Files), "blobs": blobs, "backup_day": man.Created,
			"signed_by": signer, "instance_fingerprint": current, "newest_restored_day": newest, "warnings": append([]string{}, warnings...)})
	}
	origin := "signed by instance " + signer + ", the one you named"
	if trustAny {
		origin = "origin NOT checked (--trust-any-instance)"
	}
	fmt.Fprintf(r.env.Stdout, "Restored the backup of %s into %s: %d files (%d blobs), %s; every file checked against the\n"+
		"signed manifest, and the instance passed its integrity check. Onion keys, mailboxes, UIDs and sources are as they were.\n"+
		"Start it with: relay serve --data %s\n", man.Created, target, len(man.Files), blobs, origin, target)
	return nil
}

func (r *runner) readSecretKey(path string) ([]byte, error) {
	var in io.Reader = r.env.Stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read the secret key: %v", err)
		}
		defer f.Close()
		in, name = f, path
	}
	b, err := io.ReadAll(io.LimitReader(in, maxSecretKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the secret key from %s: %v", name, err)
	}
	if len(b) == 0 || len(b) > maxSecretKeyFile {
		return nil, fmt.Errorf("the secret key in %s is empty or larger than 1 MiB", name)
	}
	return b, nil
}

// passphrase asks for a secret key's passphrase: on the terminal (echo off)
// when there is one, else as the first line of standard input. Never argv.
func (r *runner) passphrase(stdinTaken bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		if stdinTaken {
			tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
			if err != nil {
				return nil, errors.New("the secret key is protected and standard input is taken (by the key or the backup) and there is no terminal to ask on: give both as files and type or pipe the passphrase")
			}
			defer tty.Close()
			return promptTTY(tty, tty)
		}
		if f, ok := r.env.Stdin.(*os.File); ok && isTerminal(f) {
			return promptTTY(f, r.env.Stderr)
		}
		return readLine(r.env.Stdin)
	}
}

func promptTTY(tty *os.File, prompt io.Writer) ([]byte, error) {
	fmt.Fprint(prompt, "Passphrase of the secret key: ")
	var line []byte
	err := withoutEcho(tty, func() error {
		var err error
		line, err = readLine(tty)
		return err
	})
	fmt.Fprintln(prompt)
	return line, err
}

// readLine reads up to a newline one byte at a time, so nothing after the
// passphrase is consumed.
func readLine(in io.Reader) ([]byte, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) <= maxPassphrase {
		n, err := in.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return nil, errors.New("no passphrase given")
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(line) > maxPassphrase {
		clear(line)
		return nil, errors.New("passphrase too long")
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// progress shows how far a backup or restore is, on stderr, only when stderr
// is a terminal.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	on      bool
	label   string
	total   int64
	last    int
	printed bool
}

func (r *runner) newProgress(label string) *progress {
	p := &progress{w: r.env.Stderr, label: label, last: -1}
	if f, ok := r.env.Stderr.(*os.File); ok && isTerminal(f) {
		p.on = true
	}
	return p
}

func (p *progress) setTotal(n int64) {
	p.mu.Lock()
	p.total = n
	p.mu.Unlock()
}

func (p *progress) update(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.on {
		return
	}
	if p.total <= 0 {
		if mb := int(n >> 24); mb != p.last { // every 16 MiB
			p.last = mb
			fmt.Fprintf(p.w, "\r%s: %s", p.label, humanBytes(n))
			p.printed = true
		}
		return
	}
	pct := int(min(n*100/p.total, 99))
	if pct != p.last {
		p.last = pct
		fmt.Fprintf(p.w, "\r%s: %3d%% (%s of about %s)", p.label, pct, humanBytes(n), humanBytes(p.total))
		p.printed = true
	}
}

// finish ends the progress line; ok says whether the work completed.
func (p *progress) finish(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.printed:
	case ok:
		fmt.Fprintf(p.w, "\r%s: done%s\n", p.label, strings.Repeat(" ", 40))
	default:
		fmt.Fprintln(p.w)
	}
}

type progressReader struct {
	r io.Reader
	p *progress
	n int64
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.n += int64(n)
	pr.p.update(pr.n)
	return n, err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

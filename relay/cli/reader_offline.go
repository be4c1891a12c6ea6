package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/reader/airgap"
	"postern/mailbox/reader/transfer"
	"postern/relay/backup"
)

// readerOfflineCommands are the offline reader's commands for the transfer
// device and the air-gapped machine (export, open, reply); the online ones
// (init, sync, send) are in reader.go.
func readerOfflineCommands() []command {
	return []command{
		{"reader export", "--dir DIR --to TRANSFER_DIR [--json]",
			"copy the synced messages not exported before onto a transfer device, with a SHA-256 manifest", (*runner).cmdReaderExport},
		{"reader open", "--from TRANSFER_DIR --key SECRET.asc [--passphrase-file F] --out DIR [--online-ok] [--no-clean] [--json]",
			"on the air-gapped machine: verify, decrypt, and write one folder per source (transcript, files, cleaned copies)", (*runner).cmdReaderOpen},
		{"reader reply", "--out DIR --source DESIGNATION --text FILE [--attach FILE]... [--json]",
			"on the air-gapped machine: write a reply encrypted to the source's key into DIR/outbox", (*runner).cmdReaderReply},
	}
}

// selfKeyFile keeps the journalist's public key (never the secret one) in the
// output folder, so that a reply is encrypted to the newsroom too.
const selfKeyFile = ".postern/self.pub"

func (r *runner) cmdReaderExport(args []string) error {
	f := r.newFlags("reader export", false)
	dir := f.String("dir", "", "reader home (holds maildir/)")
	to := f.String("to", "", "transfer device folder")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	if *dir == "" || *to == "" {
		return usagef(f.cmd, "reader export: --dir and --to are required")
	}
	res, err := transfer.Export(*dir, *to)
	if err != nil {
		return err
	}
	if *f.json {
		return r.printJSON(map[string]any{"batch": res.Batch, "messages": res.Messages, "bytes": res.Bytes})
	}
	if res.Messages == 0 {
		fmt.Fprintln(r.env.Stdout, "Nothing new to export.")
		return nil
	}
	fmt.Fprintf(r.env.Stdout, "Exported %d messages (%d bytes) to %s.\nEject the device safely before you pull it out.\n",
		res.Messages, res.Bytes, res.Batch)
	return nil
}

func (r *runner) cmdReaderOpen(args []string) error {
	f := r.newFlags("reader open", false)
	from := f.String("from", "", "transfer device folder")
	keyPath := f.String("key", "", "the journalist's secret key (armored or binary)")
	passFile := f.String("passphrase-file", "", "read the key's passphrase from the first line of this file")
	out := f.String("out", "", "output folder")
	onlineOK := f.Bool("online-ok", false, "run even though a network interface is up")
	noClean := f.Bool("no-clean", false, "make no cleaned copies (mat2) this time; a later run without it makes them")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	if *from == "" || *keyPath == "" || *out == "" {
		return usagef(f.cmd, "reader open: --from, --key and --out are required")
	}
	if !*onlineOK {
		up, err := airgap.OnlineInterfaces()
		if err != nil {
			return fmt.Errorf("cannot list network interfaces: %v (use --online-ok to go on anyway)", err)
		}
		if len(up) > 0 {
			return fmt.Errorf("refusing to decrypt: network interface %s is up; this machine should be offline (unplug it, or pass --online-ok if you know what you do)", strings.Join(up, ", "))
		}
	}
	keys, err := r.readerKeys(*keyPath, *passFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(*out, ".postern"), 0o700); err != nil {
		return err
	}
	if err := saveSelfKey(*out, keys); err != nil {
		return err
	}
	sum, err := airgap.Open(r.env.Context, airgap.Options{From: *from, Out: *out, Keys: keys, Report: r.env.Stderr, NoClean: *noClean})
	if err != nil {
		return err
	}
	if *f.json {
		if err := r.printJSON(sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(r.env.Stdout, "Opened %d new messages (%d already opened before) for %d sources into %s; %d files, %d cleaned copies.\n",
			sum.Opened, sum.Skipped, sum.Sources, *out, sum.Files, sum.Cleaned)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d items could not be opened (each is named above); the rest was opened", sum.Failed)
	}
	return nil
}

// readerKeys reads the secret key and unlocks it with the passphrase from
// the file or, without one, from the terminal with echo off.
func (r *runner) readerKeys(keyPath, passFile string) (openpgp.EntityList, error) {
	data, err := r.readSecretKey(keyPath)
	if err != nil {
		return nil, err
	}
	ask := r.passphrase(keyPath == "-")
	if passFile != "" {
		ask = func() ([]byte, error) {
			b, err := os.ReadFile(passFile)
			if err != nil {
				return nil, fmt.Errorf("cannot read the passphrase file: %v", err)
			}
			defer clear(b)
			line, _, _ := bytes.Cut(b, []byte("\n"))
			return bytes.Clone(bytes.TrimSuffix(line, []byte("\r"))), nil
		}
	}
	return backup.ReadSecretKey(data, ask)
}

func saveSelfKey(out string, keys openpgp.EntityList) error {
	var b bytes.Buffer
	for _, e := range keys {
		if err := e.Serialize(&b); err != nil {
			return fmt.Errorf("saving the public key: %w", err)
		}
	}
	return os.WriteFile(filepath.Join(out, selfKeyFile), b.Bytes(), 0o600)
}

// stringsFlag is a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func (r *runner) cmdReaderReply(args []string) error {
	f := r.newFlags("reader reply", false)
	out := f.String("out", "", "the folder reader open wrote")
	source := f.String("source", "", "the source's designation, as in its folder's name")
	textPath := f.String("text", "", "file holding the reply's text (UTF-8)")
	var attach stringsFlag
	f.Var(&attach, "attach", "a file to attach (repeatable)")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	if *out == "" || *source == "" || *textPath == "" {
		return usagef(f.cmd, "reader reply: --out, --source and --text are required")
	}
	text, err := os.ReadFile(*textPath)
	if err != nil {
		return fmt.Errorf("cannot read the reply's text: %v", err)
	}
	var self openpgp.EntityList
	if b, err := os.ReadFile(filepath.Join(*out, selfKeyFile)); err == nil {
		self, _ = openpgp.ReadKeyRing(bytes.NewReader(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	path, err := airgap.Reply(airgap.ReplyOptions{Out: *out, Source: *source, Text: string(text), Attach: attach, Self: self})
	if err != nil {
		return err
	}
	if *f.json {
		return r.printJSON(map[string]string{"outbox_file": path})
	}
	fmt.Fprintf(r.env.Stdout, "Reply written to %s, encrypted to the source's key.\nCarry the outbox folder to the online machine and run: relay reader send --outbox %s\n",
		path, filepath.Dir(path))
	return nil
}

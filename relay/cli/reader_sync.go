package cli

import (
	"fmt"

	"postern/mailbox/reader/online"
)

func (r *runner) cmdReaderSync(args []string) error {
	const cmd = "reader sync"
	f := r.newFlags(cmd, false)
	rn, err := r.readerFlags(cmd, f, args, func(h online.Home) int { return h.IMAPPort })
	if err != nil {
		return err
	}
	defer clear(rn.pass)
	emit := jsonLines(r.env.Stdout)
	var bar *progress
	var done int64
	events := func(ev online.Event) {
		if *f.json {
			emit(ev)
		}
		switch ev.Kind {
		case "mailbox":
			bar, done = r.newProgress(fmt.Sprintf("%s: %d new messages", ev.Mailbox, ev.Messages)), 0
			bar.setTotal(ev.Bytes)
		case "message":
			done += ev.Size
			bar.update(done)
		case "mailbox_done":
			bar.finish(true)
		}
	}
	res, err := online.Sync(r.env.Context, online.SyncOptions{Home: rn.dir, Dial: rn.dial,
		User: rn.home.User, Passphrase: rn.pass, Events: events})
	if bar != nil && err != nil {
		bar.finish(false)
	}
	if err != nil {
		return fmt.Errorf("reader sync: %w", loginError(err, rn.home.User))
	}
	if *f.json {
		emit(map[string]any{"event": "summary", "mailboxes": res})
		return nil
	}
	for _, m := range res {
		if m.ValidityChanged {
			fmt.Fprintf(r.env.Stdout, "NOTE: %s on the relay has a new UIDVALIDITY (%d): it was rebuilt, e.g. restored from a backup. Its messages were copied again as %d-*; the older files stay and may repeat them.\n",
				m.Mailbox, m.UIDValidity, m.UIDValidity)
		}
		fmt.Fprintf(r.env.Stdout, "%s: %d new messages (%s), %d on the relay.\n", m.Mailbox, m.Fetched, humanBytes(m.Bytes), m.OnServer)
	}
	return nil
}

func (r *runner) cmdReaderSend(args []string) error {
	const cmd = "reader send"
	f := r.newFlags(cmd, false)
	outbox := f.String("outbox", "", "folder of the replies to send (*.eml)")
	rn, err := r.readerFlags(cmd, f, args, func(h online.Home) int { return h.SMTPPort })
	if err != nil {
		return err
	}
	defer clear(rn.pass)
	if *outbox == "" {
		return usagef(cmd, "%s: --outbox OUTBOX is required", cmd)
	}
	emit := jsonLines(r.env.Stdout)
	events := func(res online.SendResult) {
		switch {
		case *f.json:
			emit(res)
		case res.Sent:
			fmt.Fprintf(r.env.Stdout, "sent: %s (moved to sent/)\n", res.File)
		default:
			fmt.Fprintf(r.env.Stdout, "NOT sent: %s: %s\n", res.File, res.Error)
		}
	}
	res, err := online.Send(r.env.Context, online.SendOptions{Outbox: *outbox, Dial: rn.dial,
		User: rn.home.User, Passphrase: rn.pass, Events: events})
	if err != nil {
		return fmt.Errorf("reader send: %w", loginError(err, rn.home.User))
	}
	failed := 0
	for _, s := range res {
		if !s.Sent {
			failed++
		}
	}
	if *f.json {
		emit(map[string]any{"event": "summary", "sent": len(res) - failed, "failed": failed})
	} else if len(res) == 0 {
		fmt.Fprintf(r.env.Stdout, "Nothing to send in %s.\n", *outbox)
	}
	if failed > 0 {
		return fmt.Errorf("reader send: %d of %d replies were not sent; they stay in %s", failed, len(res), *outbox)
	}
	return nil
}

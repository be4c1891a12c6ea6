package online

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"
)

// SendOptions configure Send.
type SendOptions struct {
	Outbox     string   // folder of *.eml; sent ones move to Outbox/sent/
	Dial       DialFunc // to the relay's SMTP service
	User       string
	Passphrase []byte
	// MaxBytes refuses larger messages before connecting (the relay's
	// cap, 25 MiB by default).
	MaxBytes int64
	// Events, if set, gets each file's outcome as it happens.
	Events func(SendResult)
}

// SendResult is one outbox file's outcome.
type SendResult struct {
	File  string `json:"file"`
	Sent  bool   `json:"sent"`
	Error string `json:"error,omitempty"` // one line, when not sent
}

// DefaultMaxBytes is the relay's default SMTP message cap.
const DefaultMaxBytes = 25 << 20

// Send submits every OUTBOX/*.eml through the relay's SMTP, logged in as
// the journalist (as Thunderbird's Reply does), and moves each one the
// relay took to OUTBOX/sent/. A file the relay refused stays where it is,
// its reason in its SendResult. The relay stores a Message-ID it already
// has only once, so sending the same outbox twice is harmless. The error
// is for what stopped the run (no connection, a refused login).
func Send(ctx context.Context, o SendOptions) ([]SendResult, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Events == nil {
		o.Events = func(SendResult) {}
	}
	unlock, err := lockDir(o.Outbox)
	if err != nil {
		return nil, err
	}
	defer unlock()
	names, err := filepath.Glob(filepath.Join(o.Outbox, "*.eml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, nil
	}
	conn, err := o.Dial(ctx)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClient(idleConn{conn})
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Auth(sasl.NewPlainClient("", o.User, string(o.Passphrase))); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code == 535 {
			return nil, ErrLogin
		}
		return nil, fmt.Errorf("SMTP login: %w", ctxErr(ctx, err))
	}
	var out []SendResult
	for _, path := range names {
		res := SendResult{File: filepath.Base(path)}
		err := sendOne(c, path, o.MaxBytes)
		var se *smtp.SMTPError
		var bad badMessage
		switch {
		case err == nil:
			if err := moveToSent(o.Outbox, path); err != nil {
				return out, fmt.Errorf("%s was sent, but: %w", res.File, err)
			}
			res.Sent = true
		case errors.As(err, &se) || errors.As(err, &bad):
			res.Error = oneLine(err.Error())
			c.Reset()
		default:
			return out, fmt.Errorf("%s: %w", res.File, ctxErr(ctx, err))
		}
		o.Events(res)
		out = append(out, res)
	}
	c.Quit()
	return out, nil
}

// badMessage is a file refused before it reached the relay.
type badMessage struct{ msg string }

func (b badMessage) Error() string { return b.msg }

// sendOne submits one file: envelope from its From and To headers, the
// bytes as they are (CRLF line ends; bare LF become CRLF on the wire).
func sendOne(c *smtp.Client, path string, maxBytes int64) error {
	f, err := os.Open(path)
	if err != nil {
		return badMessage{err.Error()}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return badMessage{err.Error()}
	}
	if fi.Size() > maxBytes {
		return badMessage{fmt.Sprintf("larger than the relay takes (%d MiB)", maxBytes>>20)}
	}
	h, err := textproto.NewReader(bufio.NewReader(io.LimitReader(f, 1<<20))).ReadMIMEHeader()
	if err != nil {
		return badMessage{"not a mail message: " + err.Error()}
	}
	to, err := mail.ParseAddressList(h.Get("To"))
	if err != nil || len(to) != 1 {
		return badMessage{"wants exactly one To address (the source's)"}
	}
	if strings.TrimSpace(h.Get("Message-ID")) == "" {
		return badMessage{"has no Message-ID (the relay could not tell a second sending from a new reply)"}
	}
	from := ""
	if fl, err := mail.ParseAddressList(h.Get("From")); err == nil && len(fl) == 1 {
		from = fl[0].Address
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := c.Mail(from, &smtp.MailOptions{Size: fi.Size()}); err != nil {
		return err
	}
	if err := c.Rcpt(to[0].Address, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bufio.NewReaderSize(f, 64<<10)); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// moveToSent moves a sent file to OUTBOX/sent/, under a name not taken.
func moveToSent(outbox, path string) error {
	sent := filepath.Join(outbox, "sent")
	if err := os.MkdirAll(sent, 0o700); err != nil {
		return err
	}
	base := filepath.Base(path)
	stem := strings.TrimSuffix(base, ".eml")
	dst := filepath.Join(sent, base)
	for i := 2; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = filepath.Join(sent, fmt.Sprintf("%s-%d.eml", stem, i))
	}
	if err := os.Rename(path, dst); err != nil {
		return err
	}
	if err := syncDir(sent); err != nil {
		return err
	}
	return syncDir(outbox)
}

// lockDir locks a folder itself (no file is created in it), so two sends
// of one outbox never run at once.
func lockDir(dir string) (func(), error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		return nil, fmt.Errorf("another `relay reader send` is running on %s", dir)
	}
	return func() { d.Close() }, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

package online

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// SyncOptions configure Sync.
type SyncOptions struct {
	Home       string   // the reader home (reader.json, maildir/, sync-state.json)
	Dial       DialFunc // to the relay's IMAP service
	User       string
	Passphrase []byte
	// Events, if set, receives progress; it is called on Sync's goroutine.
	Events func(Event)
	// ChunkSize is how many messages one UID FETCH asks for (and how
	// often the state is saved); default 1000.
	ChunkSize int
}

// Event is one step of a sync, for the progress bar or --json.
type Event struct {
	Kind    string `json:"event"` // "mailbox", "uidvalidity_changed", "message", "mailbox_done"
	Mailbox string `json:"mailbox"`
	// mailbox: what is to be fetched.
	UIDValidity uint32 `json:"uidvalidity,omitempty"`
	Messages    int    `json:"messages,omitempty"`
	Bytes       int64  `json:"bytes,omitempty"`
	// uidvalidity_changed: the validity the home had.
	OldUIDValidity uint32 `json:"old_uidvalidity,omitempty"`
	// message: one message written to cur/.
	UID  uint32 `json:"uid,omitempty"`
	Size int64  `json:"size,omitempty"`
	File string `json:"file,omitempty"`
}

// MailboxResult sums up one mailbox's sync.
type MailboxResult struct {
	Mailbox     string `json:"mailbox"`
	UIDValidity uint32 `json:"uidvalidity"`
	Fetched     int    `json:"fetched"`
	Bytes       int64  `json:"bytes"`
	OnServer    int    `json:"on_server"`
	// ValidityChanged says the relay's mailbox got a new UIDVALIDITY: its
	// messages were fetched again under the new number (old files stay).
	ValidityChanged bool `json:"uidvalidity_changed"`
}

// ErrLogin is a refused user name or passphrase.
var ErrLogin = errors.New("the relay refused the user name or passphrase")

// Sync copies what is new in INBOX and Sent into the home's Maildir. It is
// resumable: a run that was killed leaves no partial file in cur/, and the
// next fetches only what is missing.
func Sync(ctx context.Context, o SyncOptions) ([]MailboxResult, error) {
	if o.ChunkSize <= 0 {
		o.ChunkSize = 1000
	}
	if o.Events == nil {
		o.Events = func(Event) {}
	}
	unlock, err := lockHome(o.Home)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := loadState(o.Home)
	if err != nil {
		return nil, err
	}
	c, err := login(ctx, o.Dial, o.User, o.Passphrase)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []MailboxResult
	for _, mb := range Mailboxes {
		res, err := syncMailbox(ctx, c, &o, &st, mb)
		if err != nil {
			return out, fmt.Errorf("%s: %w", mb, err)
		}
		out = append(out, res)
	}
	c.Logout().Wait()
	return out, nil
}

// login connects and logs in. The connection is closed when ctx ends.
func login(ctx context.Context, dial DialFunc, user string, pass []byte) (*imapclient.Client, error) {
	conn, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	c := imapclient.New(idleConn{conn}, nil)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-c.Closed():
		}
	}()
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("no IMAP greeting: %w", ctxErr(ctx, err))
	}
	if err := c.Login(user, string(pass)).Wait(); err != nil {
		c.Close()
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
			return nil, ErrLogin
		}
		return nil, fmt.Errorf("IMAP login: %w", ctxErr(ctx, err))
	}
	return c, nil
}

// idleTimeout is the longest the relay may stay silent, Tor included.
const idleTimeout = 5 * time.Minute

// idleConn bounds every read and write, so a relay (or a circuit) that
// goes silent ends the run with an error instead of hanging it.
type idleConn struct{ net.Conn }

func (c idleConn) Read(b []byte) (int, error) {
	c.SetReadDeadline(time.Now().Add(idleTimeout))
	return c.Conn.Read(b)
}

func (c idleConn) Write(b []byte) (int, error) {
	c.SetWriteDeadline(time.Now().Add(idleTimeout))
	return c.Conn.Write(b)
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func syncMailbox(ctx context.Context, c *imapclient.Client, o *SyncOptions, st *State, mb string) (MailboxResult, error) {
	res := MailboxResult{Mailbox: mb}
	md, err := openMaildir(o.Home, mb)
	if err != nil {
		return res, err
	}
	if err := md.cleanTmp(); err != nil {
		return res, err
	}
	sel, err := c.Select(mb, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return res, fmt.Errorf("select: %w", ctxErr(ctx, err))
	}
	if sel.UIDValidity == 0 {
		return res, errors.New("the relay gave no UIDVALIDITY")
	}
	res.UIDValidity, res.OnServer = sel.UIDValidity, int(sel.NumMessages)
	ms := st.Mailboxes[mb]
	if ms.UIDValidity != 0 && ms.UIDValidity != sel.UIDValidity {
		o.Events(Event{Kind: "uidvalidity_changed", Mailbox: mb, UIDValidity: sel.UIDValidity, OldUIDValidity: ms.UIDValidity})
		res.ValidityChanged = true
		ms = MailboxState{}
	}
	ms.UIDValidity = sel.UIDValidity
	have, err := md.have(sel.UIDValidity)
	if err != nil {
		return res, err
	}
	type want struct {
		uid  uint32
		size int64
	}
	var todo []want
	if sel.NumMessages > 0 {
		var set imap.UIDSet
		set.AddRange(imap.UID(ms.HighestUID+1), 0)
		list, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
		if err != nil {
			return res, fmt.Errorf("listing: %w", ctxErr(ctx, err))
		}
		for _, m := range list {
			// "n:*" also names the last message when n is above it.
			if uid := uint32(m.UID); uid > ms.HighestUID && !have[uid] {
				todo = append(todo, want{uid, m.RFC822Size})
			}
		}
		slices.SortFunc(todo, func(a, b want) int { return int(int64(a.uid) - int64(b.uid)) })
	}
	var total int64
	for _, w := range todo {
		total += w.size
	}
	o.Events(Event{Kind: "mailbox", Mailbox: mb, UIDValidity: sel.UIDValidity, Messages: len(todo), Bytes: total})

	buf := make([]byte, 256<<10)
	for len(todo) > 0 {
		chunk := todo[:min(len(todo), o.ChunkSize)]
		todo = todo[len(chunk):]
		sizes := make(map[uint32]int64, len(chunk))
		var set imap.UIDSet
		for _, w := range chunk {
			set.AddNum(imap.UID(w.uid))
			sizes[w.uid] = w.size
		}
		n, bytes, err := fetchChunk(ctx, c, md, sel.UIDValidity, set, sizes, buf, o.Events, mb)
		res.Fetched += n
		res.Bytes += bytes
		if serr := md.settle(); err == nil {
			err = serr
		}
		if err != nil {
			return res, err
		}
		// Every UID of the chunk is in cur/ now, or was expunged on the
		// relay meanwhile: the state can move past them.
		ms.HighestUID = chunk[len(chunk)-1].uid
		st.Mailboxes[mb] = ms
		if err := saveState(o.Home, *st); err != nil {
			return res, err
		}
	}
	if st.Mailboxes[mb] != ms {
		st.Mailboxes[mb] = ms
		if err := saveState(o.Home, *st); err != nil {
			return res, err
		}
	}
	o.Events(Event{Kind: "mailbox_done", Mailbox: mb, UIDValidity: sel.UIDValidity, Messages: res.Fetched, Bytes: res.Bytes})
	return res, nil
}

// fetchChunk streams the bodies of set into md, one file at a time; no
// message is ever held in memory whole.
func fetchChunk(ctx context.Context, c *imapclient.Client, md *maildir, validity uint32, set imap.UIDSet,
	sizes map[uint32]int64, buf []byte, events func(Event), mb string) (n int, bytes int64, err error) {
	cmd := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	// On an error the client is closed and cmd left as it is: draining it
	// would read a cut literal again, racing the client's own reader.
	fail := func(err error) (int, int64, error) {
		c.Close()
		return n, bytes, err
	}
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var (
			uid     uint32
			tmp     string
			written int64
		)
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = uint32(it.UID)
			case imapclient.FetchItemDataBodySection:
				// Streamed at once: the next item would discard it.
				if it.Literal != nil && tmp == "" {
					if tmp, written, err = md.writeTmp(it.Literal, it.Literal.Size(), buf); err != nil {
						return fail(fmt.Errorf("a message of %d bytes: %w", it.Literal.Size(), ctxErr(ctx, err)))
					}
				}
			}
		}
		if _, ok := sizes[uid]; !ok || tmp == "" {
			md.drop(tmp) // a flag update or an odd answer: nothing to store
			continue
		}
		if err := md.commit(tmp, validity, uid); err != nil {
			return fail(fmt.Errorf("message %d: %w", uid, err))
		}
		delete(sizes, uid)
		n++
		bytes += written
		events(Event{Kind: "message", Mailbox: mb, UID: uid, Size: written, File: curName(validity, uid)})
	}
	if err := cmd.Close(); err != nil {
		return fail(fmt.Errorf("fetch: %w", ctxErr(ctx, err)))
	}
	return n, bytes, nil
}

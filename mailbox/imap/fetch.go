package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postern/mailbox/imap/structure"
	"postern/mailbox/store"
)

func (sess *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, o *imap.FetchOptions) (err error) {
	defer sess.fail("fetch", &err)
	if len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "BINARY is not supported"}
	}
	es := sess.sel.view.resolve(numSet, sess.sel.searchRes)
	return sess.fetch(w, es, o)
}

func (sess *session) fetch(w *imapserver.FetchWriter, es []entry, o *imap.FetchOptions) error {
	es, msgs, gone := sess.messages(es)
	seen := false
	if !sess.sel.readOnly {
		for _, bs := range o.BodySection {
			if !bs.Peek {
				seen = true
			}
		}
	}
	if seen {
		if err := sess.markSeen(es, msgs); err != nil {
			return err
		}
	}
	needFile := len(o.BodySection) > 0 || o.Envelope || o.BodyStructure != nil
	for i, m := range msgs {
		if es[i].seq == 0 {
			continue // not yet announced to this client
		}
		var f *os.File
		if needFile {
			// Opened before the response starts: a message whose last
			// reference was just expunged elsewhere is skipped (its
			// EXPUNGE follows) instead of breaking the response.
			var err error
			if f, err = sess.s.o.Store.OpenBlob(m.Blob.ID); err != nil {
				gone++ // deleted meanwhile (a source's account, say): not logged
				continue
			}
		}
		if err := sess.fetchOne(w.CreateMessage(es[i].seq), m, f, o, seen); err != nil {
			// A half-written response cannot be repaired: end the
			// connection rather than desynchronise the client.
			sess.netConn.Close()
			return err
		}
	}
	if gone > 0 {
		return errExpungeIssued
	}
	return nil
}

// fetchOne writes one FETCH response; f is the open blob or nil (then it
// is opened if needed). It closes f.
func (sess *session) fetchOne(w *imapserver.FetchResponseWriter, m store.Message, f *os.File, o *imap.FetchOptions, seen bool) (err error) {
	defer func() {
		if f != nil {
			f.Close()
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}()
	open := func() (*os.File, error) {
		if f == nil {
			var err error
			if f, err = sess.s.o.Store.OpenBlob(m.Blob.ID); err != nil {
				return nil, fmt.Errorf("imapd: open blob: %w", err)
			}
		}
		return f, nil
	}

	w.WriteUID(imap.UID(m.UID))
	if o.Flags || seen {
		w.WriteFlags(toFlags(m.Flags))
	}
	if o.InternalDate {
		w.WriteInternalDate(m.Date)
	}
	if o.RFC822Size {
		w.WriteRFC822Size(m.Blob.Size)
	}
	var st *structure.Structure
	if o.Envelope || o.BodyStructure != nil || slices.ContainsFunc(o.BodySection, needsStructure) {
		if st, err = sess.structureOf(m, open); err != nil {
			return err
		}
	}
	if o.Envelope {
		w.WriteEnvelope(st.Envelope())
	}
	if o.BodyStructure != nil {
		w.WriteBodyStructure(st.BodyStructure())
	}
	for _, item := range o.BodySection {
		if err := writeSection(w, st, m.Blob.Size, item, open); err != nil {
			return err
		}
	}
	return nil
}

// needsStructure reports whether a body section must be located through
// the message's structure: every one but the whole message (BODY[], what
// mbsync fetches), which is the file as it is.
func needsStructure(item *imap.FetchItemBodySection) bool {
	return len(item.Part) > 0 || item.Specifier != imap.PartSpecifierNone
}

// writeSection streams one BODY[...] item from the blob file of size
// bytes; st may be nil when the item does not need it.
func writeSection(w *imapserver.FetchResponseWriter, st *structure.Structure, size int64, item *imap.FetchItemBodySection, open func() (*os.File, error)) error {
	sec := structure.Section{Range: structure.Range{End: size}}
	if needsStructure(item) {
		var ok bool
		if sec, ok = st.Locate(item); !ok {
			wc := w.WriteBodySection(item, 0)
			return wc.Close()
		}
	}
	f, err := open()
	if err != nil {
		return err
	}
	var src io.Reader
	if built, err := sec.Bytes(f); err != nil {
		return err
	} else if built != nil {
		r := structure.Partial(structure.Range{End: int64(len(built))}, item.Partial)
		built = built[r.Start:r.End]
		src, size = bytes.NewReader(built), int64(len(built))
	} else {
		r := structure.Partial(sec.Range, item.Partial)
		src, size = io.NewSectionReader(f, r.Start, r.Len()), r.Len()
	}
	wc := w.WriteBodySection(item, size)
	n, err := io.Copy(wc, src)
	if err == nil && n != size {
		err = fmt.Errorf("imapd: blob shorter than its structure (%d of %d bytes)", n, size)
	}
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

// structureOf is Server.structureOf for a record of the selected mailbox,
// which holds no Meta (see box.resync): on a cache miss it is read from the
// store, and a message expunged meanwhile falls back to its file.
func (sess *session) structureOf(m store.Message, open func() (*os.File, error)) (*structure.Structure, error) {
	if len(m.Meta) == 0 && sess.s.cache.get(m.Blob.ID) == nil {
		k := sess.key()
		if meta, err := sess.s.o.Store.MessageMeta(k.journalist, k.mailbox, m.UID); err == nil {
			m.Meta = meta
		}
	}
	return sess.s.structureOf(m, open)
}

// structureOf returns a message's structure: from the cache, from the
// store's Meta, or (for messages delivered without it) by walking the file.
func (s *Server) structureOf(m store.Message, open func() (*os.File, error)) (*structure.Structure, error) {
	if st := s.cache.get(m.Blob.ID); st != nil {
		return st, nil
	}
	st, err := structure.Decode(m.Meta, m.Blob.Size)
	if err != nil {
		f, err := open()
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("imapd: seek blob: %w", err)
		}
		if st, err = structure.Compute(f); err != nil {
			return nil, err
		}
		if st.Size != m.Blob.Size {
			return nil, errors.New("imapd: blob size differs from its record")
		}
	}
	s.cache.put(m.Blob.ID, st)
	return st, nil
}

// structCache keeps recently used structures by blob id (blobs never
// change). It is bounded; eviction is first in, first out.
type structCache struct {
	mu    sync.Mutex
	max   int
	m     map[string]*structure.Structure
	order []string
}

func newStructCache(max int) *structCache {
	return &structCache{max: max, m: make(map[string]*structure.Structure)}
}

func (c *structCache) get(id string) *structure.Structure {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *structCache) put(id string, st *structure.Structure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[id] = st
	c.order = append(c.order, id)
}

package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
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
	if o.Envelope || o.BodyStructure != nil || len(o.BodySection) > 0 {
		if st, err = sess.s.structureOf(m, open); err != nil {
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
		if err := writeSection(w, st, item, open); err != nil {
			return err
		}
	}
	return nil
}

// writeSection streams one BODY[...] item from the blob file.
func writeSection(w *imapserver.FetchResponseWriter, st *structure.Structure, item *imap.FetchItemBodySection, open func() (*os.File, error)) error {
	sec, ok := st.Locate(item)
	if !ok {
		wc := w.WriteBodySection(item, 0)
		return wc.Close()
	}
	f, err := open()
	if err != nil {
		return err
	}
	var src io.Reader
	var size int64
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

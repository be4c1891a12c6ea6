package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	gomessage "github.com/emersion/go-message"

	"postern/mailbox/imap/structure"
	"postern/mailbox/store"
)

func (sess *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, o *imap.SearchOptions) (_ *imap.SearchData, err error) {
	defer sess.fail("search", &err)
	all := sess.sel.view.all()
	var maxUID uint32
	if len(all) > 0 {
		maxUID = all[len(all)-1].uid
	}
	// "*" is the client's last message, told of an expunge or not.
	staticCriteria(criteria, sess.sel.view.count(), maxUID, sess.sel.searchRes)
	es, msgs, _ := sess.messages(all)
	var (
		data   imap.SearchData
		seqSet imap.SeqSet
		uidSet imap.UIDSet
	)
	for i, m := range msgs {
		e := es[i]
		mc := &matchCtx{s: sess.s, sess: sess, m: m}
		ok, err := mc.match(e.seq, criteria)
		mc.close()
		if errors.Is(err, store.ErrNotFound) {
			// Expunged by another session while this one reads: its
			// blob is gone. It matches nothing; its EXPUNGE follows.
			continue
		}
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		uidSet.AddNum(imap.UID(e.uid))
		var num uint32
		if kind == imapserver.NumKindSeq {
			if e.seq == 0 {
				continue
			}
			seqSet.AddNum(e.seq)
			num = e.seq
		} else {
			num = e.uid
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if kind == imapserver.NumKindSeq {
		data.All = seqSet
	} else {
		data.All = uidSet
	}
	if o.ReturnSave {
		sess.sel.searchRes = uidSet
	}
	return &data, nil
}

// staticCriteria resolves "*" and "$" in the criteria's number sets.
func staticCriteria(c *imap.SearchCriteria, maxSeq, maxUID uint32, searchRes imap.UIDSet) {
	var seqs []imap.SeqSet
	for _, set := range c.SeqNum {
		seqs = append(seqs, staticSeqSet(set, maxSeq))
	}
	c.SeqNum = seqs
	for i, set := range c.UID {
		if imap.IsSearchRes(set) {
			set = searchRes
		}
		c.UID[i] = staticUIDSet(set, maxUID)
	}
	for i := range c.Not {
		staticCriteria(&c.Not[i], maxSeq, maxUID, searchRes)
	}
	for i := range c.Or {
		staticCriteria(&c.Or[i][0], maxSeq, maxUID, searchRes)
		staticCriteria(&c.Or[i][1], maxSeq, maxUID, searchRes)
	}
}

// matchCtx evaluates criteria against one message, opening its file only
// if a criterion needs the header or the text.
type matchCtx struct {
	s      *Server
	sess   *session
	m      store.Message
	f      *os.File
	st     *structure.Structure
	header *mail.Header
}

func (mc *matchCtx) close() {
	if mc.f != nil {
		mc.f.Close()
	}
}

func (mc *matchCtx) open() (*os.File, error) {
	if mc.f == nil {
		f, err := mc.s.o.Store.OpenBlob(mc.m.Blob.ID)
		if err != nil {
			return nil, err
		}
		mc.f = f
	}
	return mc.f, nil
}

func (mc *matchCtx) structure() (*structure.Structure, error) {
	if mc.st == nil {
		st, err := mc.sess.structureOf(mc.m, mc.open)
		if err != nil {
			return nil, err
		}
		mc.st = st
	}
	return mc.st, nil
}

// hdr reads only the header block of the message.
func (mc *matchCtx) hdr() (*mail.Header, error) {
	if mc.header == nil {
		st, err := mc.structure()
		if err != nil {
			return nil, err
		}
		f, err := mc.open()
		if err != nil {
			return nil, err
		}
		h, err := st.Header(f)
		if err != nil {
			h = textproto.Header{}
		}
		mc.header = &mail.Header{Header: gomessage.Header{Header: h}}
	}
	return mc.header, nil
}

func (mc *matchCtx) match(seq uint32, c *imap.SearchCriteria) (bool, error) {
	for _, set := range c.SeqNum {
		if seq == 0 || !set.Contains(seq) {
			return false, nil
		}
	}
	for _, set := range c.UID {
		if !set.Contains(imap.UID(mc.m.UID)) {
			return false, nil
		}
	}
	if !matchDate(mc.m.Date, c.Since, c.Before) {
		return false, nil
	}
	flags := toFlags(mc.m.Flags)
	for _, f := range c.Flag {
		if !hasFlag(flags, f) {
			return false, nil
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(flags, f) {
			return false, nil
		}
	}
	if c.Larger != 0 && mc.m.Blob.Size <= c.Larger {
		return false, nil
	}
	if c.Smaller != 0 && mc.m.Blob.Size >= c.Smaller {
		return false, nil
	}
	if len(c.Header) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		h, err := mc.hdr()
		if err != nil {
			return false, err
		}
		for _, hc := range c.Header {
			if !matchHeader(h.FieldsByKey(hc.Key), hc.Value) {
				return false, nil
			}
		}
		if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			t, err := h.Date()
			if err != nil || !matchDate(t, c.SentSince, c.SentBefore) {
				return false, nil
			}
		}
	}
	for _, text := range c.Text {
		if ok, err := mc.contains(text, true); err != nil || !ok {
			return false, err
		}
	}
	for _, body := range c.Body {
		if ok, err := mc.contains(body, false); err != nil || !ok {
			return false, err
		}
	}
	for i := range c.Not {
		ok, err := mc.match(seq, &c.Not[i])
		if err != nil || ok {
			return false, err
		}
	}
	for i := range c.Or {
		a, err := mc.match(seq, &c.Or[i][0])
		if err != nil {
			return false, err
		}
		if a {
			continue
		}
		b, err := mc.match(seq, &c.Or[i][1])
		if err != nil || !b {
			return false, err
		}
	}
	return true, nil
}

// matchDate compares days only, as RFC 3501 asks.
func matchDate(t, since, before time.Time) bool {
	t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && t.Before(since) {
		return false
	}
	if !before.IsZero() && !t.Before(before) {
		return false
	}
	return true
}

func matchHeader(fields gomessage.HeaderFields, pattern string) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, _ := fields.Text()
		if strings.Contains(strings.ToLower(v), pattern) {
			return true
		}
	}
	return false
}

// contains searches the raw message (TEXT) or its body (BODY) for pattern,
// ASCII case-insensitively, streaming. Submissions are ciphertext, so this
// mostly finds plain messages the journalist appended; it never decodes.
func (mc *matchCtx) contains(pattern string, withHeader bool) (bool, error) {
	if pattern == "" {
		return true, nil
	}
	st, err := mc.structure()
	if err != nil {
		return false, err
	}
	f, err := mc.open()
	if err != nil {
		return false, err
	}
	start := st.Root.BodyStart
	if withHeader {
		start = 0
	}
	return streamContains(io.NewSectionReader(f, start, st.Size-start), appendLowerASCII(nil, []byte(pattern)))
}

func streamContains(r io.Reader, pat []byte) (bool, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	buf := make([]byte, 0, 64<<10+len(pat))
	chunk := make([]byte, 64<<10)
	for {
		n, err := br.Read(chunk)
		buf = appendLowerASCII(buf, chunk[:n])
		if bytes.Contains(buf, pat) {
			return true, nil
		}
		if keep := len(pat) - 1; len(buf) > keep {
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

func appendLowerASCII(dst, src []byte) []byte {
	for _, c := range src {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

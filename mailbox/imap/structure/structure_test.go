package structure

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

var samples = map[string]string{
	"simple": crlf(`From: "quixotic tangerine" <qt@example.onion>
To: newsroom@example.org
Subject: Submission from quixotic tangerine
Date: Sun, 29 Nov 2026 00:00:00 +0000
Message-ID: <abc@example.onion>
Content-Type: text/plain; charset=utf-8

hello
world
`),
	"pgpmime": crlf(`From: "quixotic tangerine" <qt@example.onion>
To: newsroom@example.org
Subject: Submission
Message-ID: <r1@example.onion>
In-Reply-To: <root@example.onion>
MIME-Version: 1.0
Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";
 boundary="b1"

This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)
--b1
Content-Type: application/pgp-encrypted
Content-Description: PGP/MIME version identification

Version: 1

--b1
Content-Type: application/octet-stream; name="encrypted.asc"
Content-Description: OpenPGP encrypted message
Content-Disposition: inline; filename="encrypted.asc"

-----BEGIN PGP MESSAGE-----
wcBMA0xyz
=abcd
-----END PGP MESSAGE-----

--b1--
`),
	"nested": crlf(`Subject: nested
Content-Type: multipart/mixed; boundary=outer

preamble
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

plain text
--inner
Content-Type: text/html

<p>html</p>
--inner--
--outer
Content-Type: message/rfc822

Subject: inner message
From: a@b.c
Content-Type: multipart/mixed; boundary=deep

--deep
Content-Type: text/plain

deep text
--deep--
--outer
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="x.bin"

AAAA
BBBB
--outer--
epilogue
`),
	"lf-only":  "Subject: lf\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\nbody one\n--x\nContent-Type: text/plain\n\nbody two\n--x--\n",
	"noheader": "\r\njust a body\r\n",
	"noblank":  "Subject: no blank line at all",
	"empty":    "",
	"garbage":  "--\r\n\r\n--\r\n--x--\r\n\x00\xff",
	"unclosed": crlf("Content-Type: multipart/mixed; boundary=u\n\n--u\nContent-Type: text/plain\n\nnever closed\n"),
}

func compute(t *testing.T, msg string) *Structure {
	t.Helper()
	s, err := Compute(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if s.Size != int64(len(msg)) {
		t.Fatalf("size %d, want %d", s.Size, len(msg))
	}
	return s
}

// The library's in-memory extraction is the reference for what clients
// expect; ours must agree with it on well-formed messages.
func TestBodyStructureMatchesLibrary(t *testing.T) {
	for _, name := range []string{"simple", "pgpmime", "nested", "lf-only"} {
		t.Run(name, func(t *testing.T) {
			msg := samples[name]
			s := compute(t, msg)
			got := s.BodyStructure()
			want := imapserver.ExtractBodyStructure(strings.NewReader(msg))
			// An empty parameter map and none are the same on the wire (NIL).
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			w = bytes.ReplaceAll(w, []byte(`"Params":{}`), []byte(`"Params":null`))
			if !bytes.Equal(g, w) {
				t.Errorf("body structure differs\n got %s\nwant %s", g, w)
			}
		})
	}
}

func fmtInt(n int64) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		d = append([]byte{byte('0' + n%10)}, d...)
		n /= 10
	}
	if neg {
		d = append([]byte{'-'}, d...)
	}
	return string(d)
}

func TestSectionsMatchLibrary(t *testing.T) {
	items := []*imap.FetchItemBodySection{
		{},
		{Specifier: imap.PartSpecifierHeader},
		{Specifier: imap.PartSpecifierText},
		{Part: []int{1}},
		{Part: []int{2}},
		{Part: []int{1, 1}},
		{Part: []int{1, 2}},
		{Part: []int{2, 1}},
		{Part: []int{2}, Specifier: imap.PartSpecifierText},
		{Part: []int{3}},
		{Part: []int{9}},
		{Partial: &imap.SectionPartial{Offset: 5, Size: 20}},
		{Partial: &imap.SectionPartial{Offset: 100000, Size: 20}},
		{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "From"}},
		{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Subject"}},
	}
	// Not "lf-only": the library rewrites bare LF header lines as CRLF,
	// while raw file bytes are what a client should get.
	for _, name := range []string{"simple", "pgpmime", "nested"} {
		msg := samples[name]
		s := compute(t, msg)
		f := strings.NewReader(msg)
		for _, item := range items {
			want := imapserver.ExtractBodySection(strings.NewReader(msg), item)
			got := extract(t, s, f, item)
			if !bytes.Equal(got, want) {
				t.Errorf("%s %+v:\n got %q\nwant %q", name, *item, got, want)
			}
		}
	}
}

func extract(t *testing.T, s *Structure, f io.ReaderAt, item *imap.FetchItemBodySection) []byte {
	sec, ok := s.Locate(item)
	if !ok {
		return nil
	}
	b, err := sec.Bytes(f)
	if err != nil {
		t.Fatal(err)
	}
	if b != nil {
		if item.Partial != nil {
			r := Partial(Range{0, int64(len(b))}, item.Partial)
			b = b[r.Start:r.End]
		}
		return b
	}
	r := Partial(sec.Range, item.Partial)
	out := make([]byte, r.Len())
	if _, err := f.ReadAt(out, r.Start); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return out
}

func TestMalformedNeverFails(t *testing.T) {
	for name, msg := range samples {
		s := compute(t, msg)
		_ = s.BodyStructure()
		_ = s.Envelope()
		meta, err := s.Encode()
		if err != nil {
			t.Fatal(name, err)
		}
		if _, err := Decode(meta, s.Size); err != nil {
			t.Fatal(name, err)
		}
		if _, err := Decode(meta, s.Size+1); err == nil {
			t.Fatal(name, "meta for another size accepted")
		}
	}
}

func TestLongLinesAndDeepNesting(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := 1; i < 40; i++ {
		b.WriteString("--b" + fmtInt(int64(i-1)) + "\r\nContent-Type: multipart/mixed; boundary=b" + fmtInt(int64(i)) + "\r\n\r\n")
	}
	b.WriteString("--b39\r\n\r\n" + strings.Repeat("x", 100000) + "\r\n--b39--\r\n")
	msg := b.String()
	s := compute(t, msg)
	depth := 0
	s.BodyStructure().Walk(func(path []int, _ imap.BodyStructure) bool {
		depth = max(depth, len(path))
		return true
	})
	if depth > maxDepth+1 {
		t.Fatalf("depth %d beyond limit", depth)
	}
}

func FuzzCompute(f *testing.F) {
	for _, m := range samples {
		f.Add([]byte(m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Compute(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		// Body lines without their data must change nothing.
		slow, err := computeWith(bytes.NewReader(data), true)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := s.Encode()
		b, _ := slow.Encode()
		if !bytes.Equal(a, b) {
			t.Fatalf("nextBody changed the structure:\n%s\n%s", a, b)
		}
		if s.Size != int64(len(data)) {
			t.Fatalf("size %d want %d", s.Size, len(data))
		}
		_ = s.BodyStructure()
		var check func(p *Part)
		check = func(p *Part) {
			if p.HeaderStart > p.BodyStart || p.BodyStart > p.End || p.End > s.Size {
				t.Fatalf("bad ranges %d %d %d size %d", p.HeaderStart, p.BodyStart, p.End, s.Size)
			}
			for _, c := range p.Children {
				check(c)
			}
			if p.Message != nil {
				check(p.Message)
			}
		}
		check(s.Root)
		r := bytes.NewReader(data)
		for _, item := range []*imap.FetchItemBodySection{{Part: []int{1}}, {Part: []int{1, 2}, Specifier: imap.PartSpecifierMIME}, {Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}}} {
			extract(t, s, r, item)
		}
	})
}

package pgp

import (
	"crypto/aes"
	"crypto/sha1"
	"fmt"
	"hash"
	"io"
)

// seipdWriter writes a version 1 symmetrically encrypted and integrity
// protected data packet (RFC 4880 5.13, RFC 9580 5.13.1): OpenPGP CFB
// without resynchronisation over a random prefix, the plaintext and a
// modification detection code (SHA-1). It is go-crypto's writer with one
// difference: the packet is framed by partialWriter, whose chunking
// depends only on the number of bytes, so a padded message can know in
// advance how many bytes its end will take (see Padded.Pending).
type seipdWriter struct {
	pw *partialWriter
	s  *cfbStream
	h  hash.Hash
}

const (
	seipdVersion = 1
	tagSEIPD     = 18
	mdcTrailer   = 22 // the MDC packet: tag 0xD3, length 20, SHA-1
)

// newSEIPD starts the packet on w; the packet's end closes w.
func newSEIPD(w io.WriteCloser, session []byte, rand io.Reader, bufs *Buffers) (*seipdWriter, error) {
	block, err := aes.NewCipher(session)
	if err != nil {
		return nil, fmt.Errorf("seipd: %w", err)
	}
	iv := make([]byte, block.BlockSize())
	if _, err := io.ReadFull(rand, iv); err != nil {
		return nil, fmt.Errorf("seipd: %w", err)
	}
	// The prefix: the random block and a repeat of its last two bytes,
	// encrypted first in the same CFB stream as the data.
	prefix := append(iv[:len(iv):len(iv)], iv[len(iv)-2:]...)
	stream := newCFB(block, false)
	stream.XORKeyStream(prefix, prefix)
	pw := newPartialWriter(w, tagSEIPD, bufs)
	if _, err := pw.Write([]byte{seipdVersion}); err != nil {
		return nil, err
	}
	if _, err := pw.Write(prefix); err != nil {
		return nil, err
	}
	h := sha1.New()
	h.Write(iv)
	h.Write(iv[len(iv)-2:])
	return &seipdWriter{pw: pw, s: stream, h: h}, nil
}

// Write encrypts b straight into the packet's chunk buffer.
func (w *seipdWriter) Write(b []byte) (int, error) {
	w.h.Write(b)
	return w.pw.write(b, w.s.XORKeyStream)
}

// Close writes the MDC and ends the packet.
func (w *seipdWriter) Close() error {
	mdc := make([]byte, 2, mdcTrailer)
	mdc[0], mdc[1] = 0xD3, sha1.Size
	w.h.Write(mdc)
	mdc = w.h.Sum(mdc)
	if _, err := w.pw.write(mdc, w.s.XORKeyStream); err != nil {
		return err
	}
	return w.pw.Close()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

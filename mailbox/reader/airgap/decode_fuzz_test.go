package airgap

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-message"
)

// FuzzArmorAsGoCrypto: armorBody, the reader's own armor decoder, never
// accepts what go-crypto's armor.Decode refuses and, where both accept,
// gives the same bytes, whole or a byte at a time. It may refuse more (a
// malformed BEGIN line go-crypto lets through): a refusal is one clear
// error for that message, never wrong bytes.
func FuzzArmorAsGoCrypto(f *testing.F) {
	for _, s := range []string{
		"-----BEGIN PGP MESSAGE-----\n\nQUJD\n=CRCx\n-----END PGP MESSAGE-----\n",
		"-----BEGIN PGP MESSAGE-----\r\nComment: x\r\n\r\nQUJDRA==\r\n-----END PGP MESSAGE-----\r\n",
		"garbage\n-----BEGIN PGP MESSAGE-----\n\nQU*D\n",
		"-----BEGIN PGP SIGNATURE-----\n\nQUJD\n-----END PGP SIGNATURE-----\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var want []byte
		var wantErr error
		block, err := armor.Decode(strings.NewReader(in))
		if err != nil || block.Type != "PGP MESSAGE" {
			wantErr = io.ErrUnexpectedEOF
		} else {
			want, wantErr = io.ReadAll(block.Body)
		}
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			var got []byte
			body, gotErr := armorBody(r, newScratch())
			if gotErr == nil {
				got, gotErr = io.ReadAll(body)
			}
			if gotErr == nil && wantErr != nil {
				t.Fatalf("accepted what go-crypto refuses (%v)", wantErr)
			}
			if gotErr == nil && !bytes.Equal(got, want) {
				t.Fatalf("%d bytes differ from go-crypto's %d", len(got), len(want))
			}
		}
	})
}

// FuzzBase64AsGoMessage: the reader's base64 body decoder gives what
// go-message's gives, or fails where it fails.
func FuzzBase64AsGoMessage(f *testing.F) {
	for _, s := range []string{"QUJD\r\nRA==\r\n", "QQ==\r\nQUJD\r\n", "QU JD\t\r\n", "QUJDR", "QU\rJD\r\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var h message.Header
		h.Set("Content-Transfer-Encoding", "base64")
		e, err := message.New(h, strings.NewReader(in))
		if err != nil {
			t.Skip()
		}
		want, wantErr := io.ReadAll(e.Body)
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			d := newB64Reader()
			d.Reset(r)
			got, gotErr := io.ReadAll(d)
			if (gotErr != nil) != (wantErr != nil) {
				t.Fatalf("error %v, go-message's %v", gotErr, wantErr)
			}
			if wantErr == nil && !bytes.Equal(got, want) {
				t.Fatalf("%d bytes differ from go-message's %d", len(got), len(want))
			}
		}
	})
}

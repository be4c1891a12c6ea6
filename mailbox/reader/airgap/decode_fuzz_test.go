package airgap

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-message"
)

// FuzzArmorAsGoCrypto: armorBody, the reader's own armor decoder, accepts
// what go-crypto's armor.Decode accepts, with the same bytes, and refuses
// what it refuses, whether the input comes whole or a byte at a time. One
// rule differs: base64 data after padding is refused (errB64Padding), where
// go-crypto's stream decoder accepts it if one of its reads ended at the
// padding (so depending on read sizes).
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
		want, wantErr := goCryptoArmor(in)
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			var got []byte
			body, gotErr := armorBody(r, newScratch())
			if gotErr == nil {
				got, gotErr = io.ReadAll(body)
			}
			checkSame(t, "go-crypto", in, got, want, gotErr, wantErr)
		}
	})
}

// goCryptoArmor is what go-crypto's armor.Decode reads from in: the body
// of a PGP MESSAGE block, or an error.
func goCryptoArmor(in string) ([]byte, error) {
	block, err := armor.Decode(strings.NewReader(in))
	if err != nil || block.Type != "PGP MESSAGE" {
		return nil, io.ErrUnexpectedEOF
	}
	return io.ReadAll(block.Body)
}

// chunked reads in whole ("whole"), a byte at a time ("one byte") or half
// of each read ("half"): the decoders must not depend on how reads fall.
func chunked(in, how string) io.Reader {
	r := io.Reader(strings.NewReader(in))
	switch how {
	case "one byte":
		r = iotest.OneByteReader(r)
	case "half":
		r = iotest.HalfReader(r)
	}
	return r
}

// checkSame fails t unless got and want are the same bytes or both refused;
// the only refusal allowed where the library accepts is data after padding.
func checkSame(t *testing.T, lib, in string, got, want []byte, gotErr, wantErr error) {
	t.Helper()
	switch {
	case gotErr == nil && wantErr != nil:
		t.Fatalf("accepted what %s refuses (%v)", lib, wantErr)
	case gotErr != nil && wantErr == nil && !(errors.Is(gotErr, errB64Padding) && strings.Contains(in, "=")):
		t.Fatalf("refused what %s accepts: %v", lib, gotErr)
	case gotErr == nil && !bytes.Equal(got, want):
		t.Fatalf("%d bytes differ from %s's %d", len(got), lib, len(want))
	}
}

// FuzzBase64AsGoMessage: the reader's base64 body decoder gives what
// go-message's gives, or fails where it fails, with the rule of
// FuzzArmorAsGoCrypto: data after padding is refused.
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
			d := newB64Reader(false)
			d.Reset(r)
			got, gotErr := io.ReadAll(d)
			if errors.Is(gotErr, errB64Padding) && !paddingThenData(in) {
				t.Fatalf("errB64Padding without data after padding")
			}
			checkSame(t, "go-message", in, got, want, gotErr, wantErr)
		}
	})
}

// paddingThenData reports whether base64 text in has a character other
// than padding after its first padding character.
func paddingThenData(in string) bool {
	_, after, ok := strings.Cut(in, "=")
	return ok && strings.Trim(after, "=\r\n \t") != ""
}

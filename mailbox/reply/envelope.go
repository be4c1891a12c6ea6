package reply

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"postern/mailbox/store"
)

// writeEncrypted writes a reply the relay cannot read in a new envelope: the
// outer header is the relay's own (the newsroom as From, a neutral subject,
// the day as Date, a random Message-ID, the source's thread), and ct, the
// ciphertext with only the source's session-key packets, is armored anew.
// Nothing of the journalist's outer header survives: not their address,
// client, subject or MIME boundary. The headers protected inside the
// encryption are beyond the relay's reach.
func (p *Processor) writeEncrypted(w io.Writer, src store.Source, kind Kind, ct []byte) error {
	id, err := p.messageID()
	if err != nil {
		return err
	}
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: p.o.OrgName, Address: p.newsroomAddr()}})
	h.SetAddressList("To", []*mail.Address{{Name: src.Designation, Address: src.Address}})
	h.SetDate(p.o.Now().UTC().Truncate(24 * time.Hour))
	h.SetMessageID(id)
	if t := strings.Trim(src.ThreadID, "<> "); t != "" {
		h.SetMsgIDList("In-Reply-To", []string{t})
		h.SetMsgIDList("References", []string{t})
	}
	h.SetSubject("Reply from " + p.o.OrgName)
	h.Set("MIME-Version", "1.0")

	armored, err := armorCRLF(ct)
	if err != nil {
		return err
	}
	if kind == Inline {
		h.SetContentType("text/plain", map[string]string{"charset": "us-ascii"})
		h.Set("Content-Transfer-Encoding", "7bit")
		mw, err := message.CreateWriter(w, h.Header)
		if err != nil {
			return fmt.Errorf("reply: envelope: %w", err)
		}
		if _, err := mw.Write(armored); err != nil {
			return fmt.Errorf("reply: envelope: %w", err)
		}
		return mw.Close()
	}

	h.SetContentType("multipart/encrypted", map[string]string{"protocol": "application/pgp-encrypted"})
	mw, err := message.CreateWriter(w, h.Header)
	if err != nil {
		return fmt.Errorf("reply: envelope: %w", err)
	}
	var vh message.Header
	vh.SetContentType("application/pgp-encrypted", nil)
	vh.Set("Content-Description", "PGP/MIME version identification")
	vp, err := mw.CreatePart(vh)
	if err != nil {
		return fmt.Errorf("reply: envelope: %w", err)
	}
	if _, err := io.WriteString(vp, "Version: 1\r\n"); err != nil {
		return fmt.Errorf("reply: envelope: %w", err)
	}
	if err := vp.Close(); err != nil {
		return fmt.Errorf("reply: envelope: %w", err)
	}
	var eh message.Header
	eh.SetContentType("application/octet-stream", map[string]string{"name": "encrypted.asc"})
	eh.Set("Content-Description", "OpenPGP encrypted message")
	eh.SetContentDisposition("inline", map[string]string{"filename": "encrypted.asc"})
	ep, err := mw.CreatePart(eh)
	if err != nil {
		return fmt.Errorf("reply: envelope: %w", err)
	}
	if _, err := ep.Write(armored); err != nil {
		return fmt.Errorf("reply: envelope: %w", err)
	}
	if err := ep.Close(); err != nil {
		return fmt.Errorf("reply: envelope: %w", err)
	}
	return mw.Close()
}

// armorCRLF armors a binary OpenPGP message with no armor headers (they
// would fingerprint the journalist's software) and CRLF line ends.
func armorCRLF(ct []byte) ([]byte, error) {
	var buf bytes.Buffer
	aw, err := armor.Encode(&buf, "PGP MESSAGE", nil)
	if err != nil {
		return nil, fmt.Errorf("reply: armor: %w", err)
	}
	if _, err := aw.Write(ct); err != nil {
		return nil, fmt.Errorf("reply: armor: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("reply: armor: %w", err)
	}
	buf.WriteByte('\n')
	return bytes.ReplaceAll(buf.Bytes(), []byte("\n"), []byte("\r\n")), nil
}

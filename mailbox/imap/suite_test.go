package imapd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// This file is a client-level suite that needs nothing but an address and
// an account, so it can be pointed at any IMAP server (ours, or Dovecot to
// check that the suite itself expects the right things). It creates its
// own mailboxes under a fresh prefix and removes them at the end.

type target struct {
	Addr, User, Password string
}

func runClientSuite(t *testing.T, tg target) {
	prefix := fmt.Sprintf("suite%d", time.Now().UnixNano()%1e9)
	dial := func(t *testing.T) *imapclient.Client {
		t.Helper()
		c, err := imapclient.DialInsecure(tg.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Login(tg.User, tg.Password).Wait(); err != nil {
			t.Fatalf("login: %v", err)
		}
		return c
	}
	t.Run("LoginBad", func(t *testing.T) {
		c, err := imapclient.DialInsecure(tg.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(tg.User, tg.Password+"x").Wait(); err == nil {
			t.Fatal("wrong password accepted")
		}
		if err := c.Login(tg.User, tg.Password).Wait(); err != nil {
			t.Fatalf("login after one failure: %v", err)
		}
	})
	t.Run("ListSpecialUse", func(t *testing.T) {
		c := dial(t)
		l, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		found := map[imap.MailboxAttr]string{}
		inbox := false
		for _, d := range l {
			if strings.EqualFold(d.Mailbox, "INBOX") {
				inbox = true
			}
			for _, a := range d.Attrs {
				found[imap.MailboxAttr(strings.ToLower(string(a)))] = d.Mailbox
			}
		}
		if !inbox {
			t.Error("no INBOX")
		}
		for _, a := range []imap.MailboxAttr{imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk, imap.MailboxAttrArchive} {
			if _, ok := found[imap.MailboxAttr(strings.ToLower(string(a)))]; !ok {
				t.Errorf("no mailbox with %s", a)
			}
		}
	})
	t.Run("CreateRenameDelete", func(t *testing.T) {
		c := dial(t)
		a, b := prefix+"/A", prefix+"/Bé ünïcode"
		if err := c.Create(a, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(a, nil).Wait(); err == nil {
			t.Error("second CREATE of the same name succeeded")
		}
		if err := c.Rename(a, b, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		l, err := c.List("", prefix+"/*", nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 1 || l[0].Mailbox != b {
			t.Fatalf("after rename LIST = %+v", l)
		}
		if _, err := c.Select(a, nil).Wait(); err == nil {
			t.Error("old name still selectable")
		}
		if err := c.Delete(b).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select(b, nil).Wait(); err == nil {
			t.Error("deleted mailbox selectable")
		}
	})

	t.Run("AppendFetch", func(t *testing.T) {
		c := dial(t)
		box := prefix + "-fetch"
		mustCreate(t, c, box)
		msg := sampleMessage("Append and fetch", 200<<10)
		ad := mustAppend(t, c, box, msg, nil)
		if ad.UID == 0 || ad.UIDValidity == 0 {
			t.Errorf("APPENDUID missing: %+v", ad)
		}
		sel, err := c.Select(box, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if sel.NumMessages != 1 || sel.UIDValidity != ad.UIDValidity {
			t.Fatalf("select %+v after append %+v", sel, ad)
		}
		whole := &imap.FetchItemBodySection{Peek: true}
		partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 10, Size: 100}}
		header := &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}}
		part2 := &imap.FetchItemBodySection{Peek: true, Part: []int{2}}
		bufs, err := c.Fetch(imap.UIDSetNum(ad.UID), &imap.FetchOptions{
			UID: true, Flags: true, RFC822Size: true, Envelope: true, InternalDate: true,
			BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
			BodySection:   []*imap.FetchItemBodySection{whole, partial, header, part2},
		}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(bufs) != 1 {
			t.Fatalf("%d messages fetched", len(bufs))
		}
		m := bufs[0]
		// A server may rewrite the header block (Postern keeps a minimal
		// one: no subject, the day for a date) and pad the end with blank
		// lines (Postern's Padmé sizes); the body must be intact.
		got := m.FindBodySection(whole)
		_, gotBody, _ := bytes.Cut(got, []byte("\r\n\r\n"))
		_, wantBody, _ := strings.Cut(msg, "\r\n\r\n")
		if !keptSame(string(gotBody), wantBody) {
			t.Errorf("BODY[] body differs: %d bytes, want %d", len(gotBody), len(wantBody))
		}
		if p := m.FindBodySection(partial); len(got) < 110 || !bytes.Equal(p, got[10:110]) {
			t.Errorf("BODY[]<10.100> = %q, not bytes 10-110 of BODY[]", p)
		}
		if got := string(m.FindBodySection(header)); !strings.HasPrefix(got, "Message-Id: <Append.and.fetch@example.org>") &&
			!strings.HasPrefix(got, "Message-ID: <Append.and.fetch@example.org>") {
			t.Errorf("HEADER.FIELDS (Message-ID) = %q", got)
		}
		if got := m.FindBodySection(part2); len(got) < 200<<10 || !strings.HasPrefix(string(got), "-----BEGIN PGP MESSAGE-----") {
			t.Errorf("BODY[2] = %d bytes %.10q", len(got), got)
		}
		if m.RFC822Size != int64(len(got)) {
			t.Errorf("RFC822.SIZE = %d, BODY[] has %d", m.RFC822Size, len(got))
		}
		if m.Envelope == nil || m.Envelope.MessageID != "Append.and.fetch@example.org" || len(m.Envelope.From) != 1 {
			t.Errorf("envelope = %+v", m.Envelope)
		}
		mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok || mp.Subtype != "encrypted" || len(mp.Children) != 2 {
			t.Errorf("body structure = %#v", m.BodyStructure)
		}
		if hasFlag(m.Flags, imap.FlagSeen) {
			t.Error("PEEK set \\Seen")
		}
		// A non-PEEK fetch sets \Seen.
		if _, err := c.Fetch(imap.UIDSetNum(ad.UID), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}}}).Collect(); err != nil {
			t.Fatal(err)
		}
		bufs, err = c.Fetch(imap.UIDSetNum(ad.UID), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil || len(bufs) != 1 || !hasFlag(bufs[0].Flags, imap.FlagSeen) {
			t.Errorf("after BODY[TEXT]: %v %+v", err, bufs)
		}
		mustDelete(t, c, box)
	})

	t.Run("CopyMoveExpunge", func(t *testing.T) {
		c := dial(t)
		src, dst := prefix+"-src", prefix+"-dst"
		mustCreate(t, c, src)
		mustCreate(t, c, dst)
		for i := 0; i < 4; i++ {
			mustAppend(t, c, src, sampleMessage(fmt.Sprintf("m%d", i), 100), nil)
		}
		if _, err := c.Select(src, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		cd, err := c.Copy(imap.SeqSetNum(1), dst).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if len(cd.DestUIDs) == 0 {
			t.Error("COPYUID missing")
		}
		if _, err := c.Move(imap.SeqSetNum(2), dst).Wait(); err != nil {
			t.Fatal(err)
		}
		// After MOVE, old 3 and 4 are now 2 and 3. Delete one.
		if err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		exp, err := c.Expunge().Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(exp) != 1 || exp[0] != 2 {
			t.Errorf("EXPUNGE reported %v, want [2]", exp)
		}
		if err := c.Unselect().Wait(); err != nil {
			t.Fatal(err)
		}
		wantCount(t, c, src, 2)
		wantCount(t, c, dst, 2)
		mustDelete(t, c, src)
		mustDelete(t, c, dst)
	})

	t.Run("Search", func(t *testing.T) {
		c := dial(t)
		box := prefix + "-search"
		mustCreate(t, c, box)
		mustAppend(t, c, box, sampleMessage("alpha report", 100), nil)
		mustAppend(t, c, box, sampleMessage("beta notes", 50<<10), []imap.Flag{imap.FlagFlagged})
		mustAppend(t, c, box, sampleMessage("gamma Alpha", 100), nil)
		if _, err := c.Select(box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			c    imap.SearchCriteria
			want []uint32
		}{
			{"header", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "alpha"}}}, []uint32{1, 3}},
			{"flagged", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, []uint32{2}},
			{"unflagged", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagFlagged}}, []uint32{1, 3}},
			{"larger", imap.SearchCriteria{Larger: 10 << 10}, []uint32{2}},
			{"seq", imap.SearchCriteria{SeqNum: []imap.SeqSet{{imap.SeqRange{Start: 2, Stop: 0}}}}, []uint32{2, 3}},
			{"text", imap.SearchCriteria{Text: []string{"beta"}}, []uint32{2}},
			{"since", imap.SearchCriteria{Since: time.Now().AddDate(0, 0, -2)}, []uint32{1, 2, 3}},
			{"before", imap.SearchCriteria{Before: time.Now().AddDate(0, 0, -2)}, nil},
			{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "gamma"}}}}}}, []uint32{2, 3}},
		}
		for _, tc := range cases {
			d, err := c.Search(&tc.c, nil).Wait()
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if got := d.AllSeqNums(); fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}
		mustDelete(t, c, box)
	})

	t.Run("StatusAndUIDs", func(t *testing.T) {
		c := dial(t)
		box := prefix + "-status"
		mustCreate(t, c, box)
		a1 := mustAppend(t, c, box, sampleMessage("one", 10), nil)
		a2 := mustAppend(t, c, box, sampleMessage("two", 10), []imap.Flag{imap.FlagSeen})
		if a2.UID <= a1.UID || a1.UIDValidity != a2.UIDValidity {
			t.Errorf("UIDs %v then %v", a1, a2)
		}
		st, err := c.Status(box, &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if *st.NumMessages != 2 || *st.NumUnseen != 1 || st.UIDNext <= a2.UID || st.UIDValidity != a1.UIDValidity {
			t.Errorf("STATUS %+v", st)
		}
		mustDelete(t, c, box)
	})
}

func mustCreate(t *testing.T, c *imapclient.Client, name string) {
	t.Helper()
	if err := c.Create(name, nil).Wait(); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

func mustDelete(t *testing.T, c *imapclient.Client, name string) {
	t.Helper()
	if c.Mailbox() != nil {
		c.Unselect().Wait()
	}
	if err := c.Delete(name).Wait(); err != nil {
		t.Fatalf("delete %s: %v", name, err)
	}
}

func mustAppend(t *testing.T, c *imapclient.Client, box, msg string, flags []imap.Flag) *imap.AppendData {
	t.Helper()
	cmd := c.Append(box, int64(len(msg)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	ad, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return ad
}

func wantCount(t *testing.T, c *imapclient.Client, box string, n uint32) {
	t.Helper()
	st, err := c.Status(box, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != n {
		t.Errorf("%s has %d messages, want %d", box, *st.NumMessages, n)
	}
}

// sampleMessage is shaped like what Postern stores: PGP/MIME, with an
// OpenPGP message of about size bytes to alice and bob (see sampleArmor).
func sampleMessage(subject string, size int) string {
	var b strings.Builder
	b.WriteString("From: Sender <sender@example.org>\r\nTo: newsroom@example.org\r\n")
	b.WriteString("Subject: " + subject + "\r\nDate: Sun, 29 Nov 2026 00:00:00 +0000\r\n")
	b.WriteString("Message-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"sep\"\r\n\r\n")
	b.WriteString("--sep\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n")
	b.WriteString("--sep\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n")
	b.WriteString(sampleArmor(size))
	b.WriteString("--sep--\r\n")
	return b.String()
}

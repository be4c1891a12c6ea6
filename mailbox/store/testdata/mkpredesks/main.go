// Command mkpredesks made testdata/predesks: a data directory written by the
// relay as it was before desks (commit 7a2ec09, schema 1 with only the
// migration 0001-initial-layout), so the desks migration is tested on what
// real instances hold, not on what today's code would write.
//
// Run from the module root: go run ./mailbox/store/testdata/mkpredesks DIR
// It is kept for the record; running it with newer code makes a different
// (newer) fixture, so never regenerate testdata/predesks with it.
//
// The fixture holds no secret: the journalists' and the source's keys are
// derived from the public labels below (pgp.DeriveKey), so a test re-derives
// the private keys to read the mail. They are throwaway test keys.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/delivery"
	"postern/mailbox/pgp"
	"postern/mailbox/reply"
	"postern/mailbox/store"
)

const domain = "fixture.example"

func key(label, uid string) *openpgp.Entity {
	seed := sha256.Sum256([]byte(label))
	e, err := pgp.DeriveKey(seed[:], uid)
	if err != nil {
		log.Fatal(err)
	}
	return e
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: mkpredesks DIR")
	}
	dir := os.Args[1]
	st, err := store.Init(filepath.Join(dir, "data"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	for _, n := range []string{"alice", "bob"} {
		k := key("THROWAWAY TEST KEY journalist "+n, n+" <"+n+"@"+domain+">")
		if err := st.AddJournalist(store.Journalist{Name: n, PublicKey: pgp.Serialize(k), Fingerprint: fmt.Sprintf("%X", k.PrimaryKey.Fingerprint)}); err != nil {
			log.Fatal(err)
		}
	}
	sk := key("THROWAWAY TEST KEY source", "quiet harbor <quiet.harbor@"+domain+">")
	src := store.Source{ID: bytes.Repeat([]byte{7}, 32), Designation: "quiet harbor",
		Address: "quiet.harbor@" + domain, PublicKey: pgp.Serialize(sk),
		Fingerprint: fmt.Sprintf("%X", sk.PrimaryKey.Fingerprint), ThreadID: "<fixture-thread@" + domain + ">"}
	if err := st.CreateSource(src); err != nil {
		log.Fatal(err)
	}
	d := delivery.New(delivery.Options{Store: st, Domain: domain})
	ctx := context.Background()
	for i, text := range []string{"first submission before desks", "second submission before desks"} {
		tx, err := d.Start(ctx, delivery.Submission{Source: src, SourceKey: sk, Subject: fmt.Sprintf("fixture %d", i+1)})
		if err != nil {
			log.Fatal(err)
		}
		if err := tx.Text(text); err != nil {
			log.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			log.Fatal(err)
		}
	}
	p, err := reply.New(reply.Options{Store: st, Domain: domain})
	if err != nil {
		log.Fatal(err)
	}
	msg := "From: alice <alice@" + domain + ">\r\nTo: <quiet.harbor@" + domain + ">\r\nSubject: Re: fixture\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nthank you, a reply before desks\r\n"
	if err := p.Process(ctx, reply.Reply{Journalist: "alice", Source: src, Message: []byte(msg)}); err != nil {
		log.Fatal(err)
	}
	if err := st.SetFlags("alice", "INBOX", []uint32{1}, store.FlagAdd, []string{`\Seen`}); err != nil {
		log.Fatal(err)
	}
	// What the test compares after the migration: every journalist's INBOX.
	want := map[string][]store.Message{}
	for _, n := range []string{"alice", "bob"} {
		ms, err := st.Messages(n, "INBOX")
		if err != nil {
			log.Fatal(err)
		}
		for i := range ms {
			ms[i].Meta = nil
		}
		want[n] = ms
	}
	b, err := json.MarshalIndent(want, "", " ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "inboxes.json"), append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}

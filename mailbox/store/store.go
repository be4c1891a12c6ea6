// Package store keeps Postern's state: one bbolt database for small records and a
// blobs/ directory for the ciphertext bodies. It is the only package that imports
// bbolt.
//
// The model follows mox: bodies are files, metadata is in the database. A blob file is
// created in blobs/ under its final name, its directory entry fsynced (while the body
// is written) and the file fsynced (blob.go), and only after both does a database
// transaction record a reference to it. So a crash
// at any instant leaves at worst an unreferenced file, which Open removes; a record
// never points at a missing file. Deleting drops the records in one transaction and
// then overwrites and removes each blob whose last reference went away.
//
// Layout: the data directory (0700) holds postern.db (0600) and blobs/. Buckets
// are listed in open.go. Each journalist's mailboxes are records under the
// journalist's name; each mailbox has an internal id naming its message bucket,
// whose keys are big-endian UIDs so cursor order is UID order. A per-source index
// (source id → mailbox id + UID) lets DeleteSource find every copy in one pass, and
// blob reference counts (with sizes) live in their own bucket.
//
// Concurrency: all writes go through one path (update) that holds a mutex from
// before the bbolt write transaction until its blob effects are settled; events
// are then published in commit order, outside any transaction. Reads run in bbolt
// read transactions and never take that mutex.
//
// Deletion is real: blob files are overwritten before removal, and DeleteSource
// compacts the database (bbolt leaves deleted values readable in freed pages).
// Every date is stored truncated to the UTC day.
package store

import (
	"errors"
	"log/slog"
	"time"

	"postern/mailbox/tally"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound       = errors.New("not found")
	ErrExists         = errors.New("already exists")
	ErrLocked         = errors.New("store: database is in use by another relay process (is `relay serve` running?)")
	ErrNotInstance    = errors.New("not a postern instance")
	ErrInstanceExists = errors.New("a postern instance already exists there")
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for the database's file lock (default 2s); after
	// it Open returns ErrLocked instead of blocking forever.
	LockTimeout time.Duration
	// Logger receives operational messages of Open, Init and maintenance; it
	// never gets a codename, a subject or other content. Nil discards.
	Logger *slog.Logger
	// Tally counts failures of writes a request caused (a blob that could not be
	// shredded after a source deleted it, say): a log line there would carry the
	// time of the request. Nil counts nothing.
	Tally *tally.Tally
	// Now is the clock (default time.Now). Every stored date is truncated to the
	// UTC day.
	Now func() time.Time
}

// Journalist is a person who reads submissions over IMAP.
type Journalist struct {
	Name            string
	PasswordHash    string // PHC argon2id string
	PublicKey       []byte // binary OpenPGP public key
	Fingerprint     string
	KeyExpires      time.Time // zero = never; stored to the day
	OnionAuthPublic string
	Created         time.Time // day
	// System marks the relay's own hidden account (relay selftest's
	// mailbox): it can log in to IMAP, but Journalists, Stats and a delivery
	// to everyone leave it out, so no submission is encrypted to its key.
	System bool
}

// Source is a pseudonymous sender. Its ID comes from the codename KDF; the codename
// itself is never stored.
type Source struct {
	ID          []byte // 32 bytes
	Designation string
	Address     string // stored lower-cased
	PublicKey   []byte // binary OpenPGP reply key
	Fingerprint string
	ThreadID    string // Message-ID of the thread root
	Created     time.Time
	LastActive  time.Time
	// Desk is the slug of the desk the source writes to (desk.go).
	Desk string
}

// SourceSummary is a Source with counts, for admin listings.
type SourceSummary struct {
	Source
	Messages int // distinct submissions (blobs) held for the source
	Replies  int
}

// BlobRef names a committed blob file.
type BlobRef struct {
	ID   string
	Size int64
}

// Delivery is one message to record in one or more journalists' mailboxes.
type Delivery struct {
	Blob        BlobRef
	SourceID    []byte   // owner, may be nil
	Journalists []string // nil = all
	Mailbox     string   // "INBOX" when empty
	Flags       []string
	Meta        []byte // opaque cache for IMAP (envelope, bodystructure)
}

// Reply is a journalist's reply to a source, stored encrypted to the source's key.
type Reply struct {
	ID       string
	SourceID []byte
	Blob     BlobRef
	Created  time.Time // day
	// Dedup, if set, is a keyed hash of the reply's Message-ID (never the
	// header itself): AddReply stores a second reply with the same value
	// for the source not at all, so a reply sent twice is stored once.
	Dedup []byte
}

// Mailbox is the state of one journalist's mailbox.
type Mailbox struct {
	Name        string
	UIDValidity uint32
	UIDNext     uint32
	SpecialUse  string
	Subscribed  bool
	Count       int
	// RecentUID is the highest UID claimed as \Recent by a session;
	// Recent counts the messages above it (recent to the next session).
	RecentUID uint32
	Recent    int
}

// Message is one message in a mailbox.
type Message struct {
	UID      uint32
	Blob     BlobRef
	Flags    []string
	Date     time.Time // day
	SourceID []byte
	Meta     []byte
}

// FlagOp says how SetFlags combines flags.
type FlagOp int

// Flag operations of STORE.
const (
	FlagSet FlagOp = iota
	FlagAdd
	FlagRemove
)

// EventKind says what happened in an Event.
type EventKind int

// Event kinds.
const (
	EventNew     EventKind = iota + 1 // messages appended (UIDs are the new ones)
	EventExpunge                      // messages removed
	EventFlags                        // flags changed
	EventLogout                       // the journalist was removed or their password or onion key changed: end their sessions
)

// Event tells subscribers (IMAP IDLE) about a committed change.
type Event struct {
	Journalist string
	Mailbox    string
	Kind       EventKind
	UIDs       []uint32
}

// Stats counts what the store holds.
type Stats struct {
	Journalists, Sources, Messages, Replies, Blobs int
	BlobBytes                                      int64
}

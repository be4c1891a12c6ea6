package store

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	dbName   = "postern.db"
	blobDir  = "blobs"
	saltSize = 32

	// schemaVersion is the layout of the buckets below. Data changes within a
	// version are migrations (see migrations).
	schemaVersion = 1
)

// Top-level buckets.
var (
	bMeta        = []byte("meta")        // instance: schema, migrations, salt
	bSettings    = []byte("settings")    // GetMeta/SetMeta
	bJournalists = []byte("journalists") // name → journalistRec
	bMailboxes   = []byte("mailboxes")   // journalist name → {mailbox name → mailboxRec}
	bMsgs        = []byte("msgs")        // mailbox id (8 bytes BE) → {uid (4 bytes BE) → messageRec}
	bMsgMeta     = []byte("msgmeta")     // mailbox id (8 BE) + uid (4 BE) → a message's Meta (mbox.go)
	bSources     = []byte("sources")     // source id → sourceRec
	bSrcAddr     = []byte("srcaddr")     // lower-cased address → source id
	bSrcDesig    = []byte("srcdesig")    // lower-cased designation → source id
	bSrcMsgs     = []byte("srcmsgs")     // source id → {mailbox id + uid → blob id}
	bReplies     = []byte("replies")     // source id → {seq (8 bytes BE) → replyRec}
	bRefs        = []byte("refs")        // blob id → refcount (8 BE) + size (8 BE)
	bDesks       = []byte("desks")       // slug → deskRec (desk.go)

	allBuckets = [][]byte{bMeta, bSettings, bJournalists, bMailboxes, bMsgs, bMsgMeta, bSources,
		bSrcAddr, bSrcDesig, bSrcMsgs, bReplies, bRefs, bDesks}

	kSchema     = []byte("schema")
	kMigrations = []byte("migrations")
	kSalt       = []byte("salt")
)

// migration is a data change applied once to an existing database. A new database
// records every known migration as done, since it starts in the final shape.
type migration struct {
	name string
	run  func(tx *bolt.Tx) error
}

// migrations is the ordered, append-only table of data migrations. The first entry
// marks the initial layout so the mechanism is exercised from day one.
var migrations = []migration{
	{name: "0001-initial-layout", run: func(*bolt.Tx) error { return nil }},
	{name: "0002-desks", run: migrateDesks},
	{name: "0003-message-meta-own-bucket", run: migrateMetaOut},
}

// Store is an open Postern instance. Its methods are safe for concurrent use.
type Store struct {
	dir   string
	blobs string
	opts  Options
	log   *slog.Logger
	salt  []byte

	// blobMu serialises every write transaction together with the in-memory blob
	// bookkeeping below. It is held from before a write transaction begins until
	// its blob side effects are settled (files of dead blobs renamed away, pending
	// entries consumed), so a file is never removed while a record that points at it
	// commits, and Check sees a consistent picture. Order: blobMu, then dbMu.
	blobMu sync.Mutex
	// blobBufs holds BlobWriters' write buffers for the next ones.
	blobBufs sync.Pool
	// pending holds committed blob files that no record references yet, with their
	// size. Only these may gain a first reference.
	pending map[string]int64
	// temps holds names of files in blobs/ that are being written or shredded,
	// and the spare ones (spare.go).
	temps map[string]struct{}
	// spare holds empty blob files made ahead of need (spare.go).
	spare spares
	// pins counts open Snapshots. While it is above zero, blob files that lose
	// their last reference are renamed away as usual but not shredded: their
	// names wait in deferred until the last Snapshot closes, so a backup can
	// still read every blob its database snapshot references (snapshot.go).
	pins     int
	deferred []string
	// snapTxs counts Snapshots whose read transaction is still open (until
	// WriteDB). A Compact meanwhile would wait for them while holding
	// blobMu, stalling every delivery for the whole database copy: it is
	// put off instead (compactDue) and run when the last one ends.
	snapTxs    int
	compactDue bool

	// dbMu guards the db pointer: readers hold it shared for a transaction,
	// Compact and Close hold it exclusively while they replace or close the file.
	dbMu sync.RWMutex
	db   *bolt.DB

	// pubMu keeps events in commit order: a writer takes it before releasing blobMu
	// and holds it while subscribers run.
	pubMu   sync.Mutex
	subMu   sync.Mutex
	subs    map[uint64]func(Event)
	nextSub uint64
}

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Init creates a new instance in dir, which must be absent or empty. It makes the
// directory (0700), the database (0600), blobs/ and the instance salt.
func Init(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if _, err := os.Stat(filepath.Join(dir, dbName)); err == nil {
		return nil, fmt.Errorf("store: init %s: %w", dir, ErrInstanceExists)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: init: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("store: init: %w", err)
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("store: init: %s is not empty and holds no instance: %w", dir, ErrNotInstance)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("store: init: %w", err)
	} else if err := checkOwner(dir, fi); err != nil {
		return nil, fmt.Errorf("store: init: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: init: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, blobDir), 0o700); err != nil {
		return nil, fmt.Errorf("store: init: %w", err)
	}
	salt := make([]byte, saltSize)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return nil, fmt.Errorf("store: init: salt: %w", err)
	}
	db, err := openDB(filepath.Join(dir, dbName), opts)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		names := make([]string, len(migrations))
		for i, m := range migrations {
			names[i] = m.name
		}
		// A new instance has one desk, which every journalist added joins
		// until there are several (desk.go).
		if err := putDesk(tx, Desk{Slug: DefaultDesk, Title: defaultDeskTitle, Created: opts.Now()}); err != nil {
			return err
		}
		return putMetaRecord(tx.Bucket(bMeta), schemaVersion, names, salt)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: init: %w", err)
	}
	if err := syncDir(dir); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: init: %w", err)
	}
	s := newStore(dir, opts, db, salt)
	s.settle(s.dbPath(), s.blobs, dir)
	s.log.Info("store: instance created")
	return s, nil
}

func putMetaRecord(b *bolt.Bucket, version int, migs []string, salt []byte) error {
	mj, err := json.Marshal(migs)
	if err != nil {
		return err
	}
	if err := b.Put(kSchema, []byte(fmt.Sprint(version))); err != nil {
		return err
	}
	if err := b.Put(kMigrations, mj); err != nil {
		return err
	}
	if salt != nil {
		return b.Put(kSalt, salt)
	}
	return nil
}

// Open opens an existing instance: it takes the database lock (ErrLocked after
// LockTimeout), runs pending migrations, and removes temp files and blob files that
// no record references (left by a crash between writing a blob and recording it).
func Open(dir string, opts Options) (*Store, error) {
	return openWith(dir, opts, migrations)
}

func openWith(dir string, opts Options, migs []migration) (*Store, error) {
	opts = opts.withDefaults()
	log := opts.Logger
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: open %s: %w", dir, ErrNotInstance)
		}
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: open %s: not a directory: %w", dir, ErrNotInstance)
	}
	if err := checkOwner(dir, fi); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if fi.Mode().Perm() != 0o700 {
		log.Warn("store: data directory had loose permissions; set to 0700", "mode", fi.Mode().Perm().String())
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: open: %w", err)
		}
	}
	if err := recoverCompaction(dir, log); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, dbName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: open %s: %w", dir, ErrNotInstance)
		}
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, blobDir), 0o700); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	db, err := openDB(path, opts)
	if err != nil {
		return nil, err
	}
	// Read first: an up-to-date database is not written at all, so a command
	// that opens the instance and then fails changes nothing on disk.
	var salt []byte
	upToDate := false
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil || meta.Get(kSalt) == nil {
			return ErrNotInstance
		}
		var done []string
		if string(meta.Get(kSchema)) != fmt.Sprint(schemaVersion) || json.Unmarshal(meta.Get(kMigrations), &done) != nil {
			return nil
		}
		for _, m := range migs {
			if !slices.Contains(done, m.name) {
				return nil
			}
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				return nil
			}
		}
		salt = append([]byte(nil), meta.Get(kSalt)...)
		upToDate = true
		return nil
	})
	if err == nil && !upToDate {
		err = db.Update(upgrade(migs, log, &salt))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	s := newStore(dir, opts, db, salt)
	if err := s.collectBlobs(); err != nil {
		db.Close()
		return nil, err
	}
	if !upToDate {
		s.settle(s.dbPath())
	}
	s.dropMapped() // the migrations' and collectBlobs' passes
	return s, nil
}

// upgrade brings the schema up to date: pending migrations, missing buckets.
func upgrade(migs []migration, log *slog.Logger, saltOut *[]byte) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil || meta.Get(kSalt) == nil {
			return ErrNotInstance
		}
		*saltOut = append([]byte(nil), meta.Get(kSalt)...)
		var version int
		if _, err := fmt.Sscan(string(meta.Get(kSchema)), &version); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
		if version > schemaVersion {
			return fmt.Errorf("database schema %d is newer than this relay (%d)", version, schemaVersion)
		}
		var done []string
		if err := json.Unmarshal(meta.Get(kMigrations), &done); err != nil {
			return fmt.Errorf("migrations record: %w", err)
		}
		have := map[string]bool{}
		for _, n := range done {
			have[n] = true
		}
		for _, m := range migs {
			if have[m.name] {
				continue
			}
			if err := m.run(tx); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			done = append(done, m.name)
			log.Info("store: migration applied", "migration", m.name)
		}
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return putMetaRecord(meta, schemaVersion, done, nil)
	}
}

func openDB(path string, opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, boltOptions(opts))
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("store: open database: %w", err)
	}
	return db, nil
}

func newStore(dir string, opts Options, db *bolt.DB, salt []byte) *Store {
	return &Store{
		dir:     dir,
		blobs:   filepath.Join(dir, blobDir),
		opts:    opts,
		log:     opts.Logger,
		salt:    salt,
		db:      db,
		pending: map[string]int64{},
		temps:   map[string]struct{}{},
		subs:    map[uint64]func(Event){},
	}
}

// Close closes the database. In-flight BlobWriters should be finished first.
func (s *Store) Close() error {
	s.stopSpares()
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Dir is the data directory.
func (s *Store) Dir() string { return s.dir }

// Salt is the instance salt (32 random bytes made at Init), an input of the codename
// KDF. It returns a copy.
func (s *Store) Salt() []byte { return append([]byte(nil), s.salt...) }

// GetMeta returns a small instance setting, or ErrNotFound.
func (s *Store) GetMeta(key string) ([]byte, error) {
	var v []byte
	err := s.view(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bSettings).Get([]byte(key))
		if raw == nil {
			return ErrNotFound
		}
		v = append([]byte{}, raw...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: meta: %w", err)
	}
	return v, nil
}

// SetMeta stores a small instance setting; a nil value deletes it.
func (s *Store) SetMeta(key string, v []byte) error {
	if key == "" {
		return errors.New("store: meta: empty key")
	}
	return s.update("meta", func(tx *bolt.Tx, _ *txState) error {
		if v == nil {
			return tx.Bucket(bSettings).Delete([]byte(key))
		}
		return tx.Bucket(bSettings).Put([]byte(key), v)
	})
}

// Schema reports the database layout version and the migrations recorded as done.
func (s *Store) Schema() (version int, migrationsDone []string) {
	_ = s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		fmt.Sscan(string(meta.Get(kSchema)), &version)
		return json.Unmarshal(meta.Get(kMigrations), &migrationsDone)
	})
	return version, migrationsDone
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return errClosed
	}
	return s.db.View(fn)
}

var errClosed = errors.New("store: closed")

// day truncates t to midnight UTC: the only precision the store keeps.
func day(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (s *Store) today() time.Time { return day(s.opts.Now()) }

// dayUnix and unixDay encode dates compactly; 0 is the zero time.
func dayUnix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return day(t).Unix()
}

func unixDay(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// mmapReserve is the address space bbolt maps for the database up front.
// A write that grows the file past the mapping must remap it, which waits
// for every read transaction, so a backup's snapshot (one read transaction
// for the whole database copy) would stall every delivery. Only pages the
// relay touches count in its memory; 32-bit systems keep bbolt's default.
const mmapReserve = 1 << 30

// boltOptions are the options of every database the store opens.
func boltOptions(opts Options) *bolt.Options {
	o := &bolt.Options{Timeout: opts.LockTimeout, OpenFile: openFileNoAtime}
	if strconv.IntSize == 64 {
		o.InitialMmapSize = mmapReserve
	}
	return o
}

package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// A desk is a group of journalists and a cryptographic boundary: a source
// belongs to one desk, its submissions are encrypted only to the keys of
// the desk's journalists and delivered only to their mailboxes, and only
// they may reply (mailbox/delivery, mailbox/reply, mailbox/smtp ask
// DeskJournalists). An instance made before desks is migrated to one desk,
// DefaultDesk, holding every journalist; while an instance has exactly one
// desk, a journalist added joins it, so it behaves as before desks.

// DefaultDesk is the desk of an instance made before desks, and the one desk
// of a new instance.
const DefaultDesk = "newsroom"

// Limits of a desk's texts, which sources read on the form.
const (
	MaxDeskTitle       = 100
	MaxDeskDescription = 1000
	maxSlug            = 32
)

// Errors about desks.
var (
	ErrBadSlug   = errors.New("a desk slug is 1 to 32 of a-z, 0-9 and -")
	ErrDeskInUse = errors.New("the desk still holds sources")
	// ErrInvalidDesk wraps every refusal of a desk's values.
	ErrInvalidDesk = errors.New("invalid desk")
)

// Desk is a group of journalists that sources choose.
type Desk struct {
	Slug        string
	Title       string
	Description string
	// Hidden desks are reachable only through their own link (/d/SLUG) and
	// never listed to sources.
	Hidden bool
	// RetentionDays overrides the instance's retention for the desk's
	// sources: 0 inherits it, RetentionForever keeps everything, N > 0
	// keeps N days.
	RetentionDays int
	Journalists   []string // sorted
	Created       time.Time
}

// RetentionForever as Desk.RetentionDays keeps a desk's mail whatever the
// instance's retention.
const RetentionForever = -1

type deskRec struct {
	Title       string   `json:"t"`
	Description string   `json:"d,omitempty"`
	Hidden      bool     `json:"h,omitempty"`
	Retention   int      `json:"r,omitempty"`
	Journalists []string `json:"j,omitempty"`
	Created     int64    `json:"c,omitempty"`
}

func (r deskRec) desk(slug string) Desk {
	return Desk{Slug: slug, Title: r.Title, Description: r.Description, Hidden: r.Hidden,
		RetentionDays: r.Retention, Journalists: slices.Clone(r.Journalists), Created: unixDay(r.Created)}
}

func deskRecord(d Desk) deskRec {
	js := slices.Clone(d.Journalists)
	slices.Sort(js)
	return deskRec{Title: d.Title, Description: d.Description, Hidden: d.Hidden,
		Retention: d.RetentionDays, Journalists: slices.Compact(js), Created: dayUnix(d.Created)}
}

// ValidSlug checks a desk slug: 1 to 32 of a-z, 0-9 and '-'. The slug is in
// the per-desk link and the desk's mail address, so nothing else is allowed.
func ValidSlug(slug string) error {
	if slug == "" || len(slug) > maxSlug {
		return ErrBadSlug
	}
	for _, c := range slug {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return ErrBadSlug
		}
	}
	return nil
}

// checkDesk validates what sources will read and the retention value.
func checkDesk(d Desk) error {
	if err := checkDeskValues(d); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDesk, err)
	}
	return nil
}

func checkDeskValues(d Desk) error {
	if err := ValidSlug(d.Slug); err != nil {
		return err
	}
	if strings.TrimSpace(d.Title) == "" || !utf8.ValidString(d.Title) || utf8.RuneCountInString(d.Title) > MaxDeskTitle ||
		strings.IndexFunc(d.Title, unicode.IsControl) >= 0 {
		return fmt.Errorf("a desk title is one line of 1 to %d characters", MaxDeskTitle)
	}
	if !utf8.ValidString(d.Description) || utf8.RuneCountInString(d.Description) > MaxDeskDescription ||
		strings.IndexFunc(d.Description, unicode.IsControl) >= 0 {
		return fmt.Errorf("a desk description is one paragraph of at most %d characters", MaxDeskDescription)
	}
	if d.RetentionDays < RetentionForever {
		return errors.New("a desk's retention is a number of days, 0 for the instance's, or forever")
	}
	return nil
}

// putDesk validates d (its journalists must exist) and stores it.
func putDesk(tx *bolt.Tx, d Desk) error {
	if err := checkDesk(d); err != nil {
		return err
	}
	for _, j := range d.Journalists {
		if tx.Bucket(bJournalists).Get([]byte(j)) == nil {
			return fmt.Errorf("journalist %q: %w", j, ErrNotFound)
		}
	}
	return putJSON(tx.Bucket(bDesks), []byte(d.Slug), deskRecord(d))
}

func getDesk(tx *bolt.Tx, slug string) (Desk, error) {
	var r deskRec
	if err := getJSON(tx.Bucket(bDesks), []byte(slug), &r); err != nil {
		return Desk{}, fmt.Errorf("desk %q: %w", slug, err)
	}
	return r.desk(slug), nil
}

// AddDesk creates a desk. ErrExists if the slug is taken; ErrNotFound (and
// nothing stored) if one of its journalists does not exist.
func (s *Store) AddDesk(d Desk) error {
	if d.Created.IsZero() {
		d.Created = s.opts.Now()
	}
	return s.update("add desk", func(tx *bolt.Tx, st *txState) error {
		if tx.Bucket(bDesks).Get([]byte(d.Slug)) != nil {
			return ErrExists
		}
		return putDesk(tx, d)
	})
}

// Desk returns one desk, or ErrNotFound.
func (s *Store) Desk(slug string) (Desk, error) {
	var d Desk
	err := s.view(func(tx *bolt.Tx) (err error) {
		d, err = getDesk(tx, slug)
		return err
	})
	if err != nil {
		return Desk{}, fmt.Errorf("store: %w", err)
	}
	return d, nil
}

// Desks lists every desk, sorted by slug.
func (s *Store) Desks() ([]Desk, error) {
	var out []Desk
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bDesks).ForEach(func(k, _ []byte) error {
			d, err := getDesk(tx, string(k))
			out = append(out, d)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: desks: %w", err)
	}
	return out, nil
}

// DeskJournalists returns a desk and the records of its journalists: the
// recipients of its sources' submissions and replies.
func (s *Store) DeskJournalists(slug string) (Desk, []Journalist, error) {
	var (
		d  Desk
		js []Journalist
	)
	err := s.view(func(tx *bolt.Tx) (err error) {
		if d, err = getDesk(tx, slug); err != nil {
			return err
		}
		for _, name := range d.Journalists {
			var r journalistRec
			if err := getJSON(tx.Bucket(bJournalists), []byte(name), &r); err != nil {
				return fmt.Errorf("journalist %q of desk %q: %w", name, slug, err)
			}
			js = append(js, r.journalist(name))
		}
		return nil
	})
	if err != nil {
		return Desk{}, nil, fmt.Errorf("store: %w", err)
	}
	return d, js, nil
}

// UpdateDesk changes a desk in one transaction: fn edits the current record;
// an error from fn, a changed slug or an invalid result aborts.
func (s *Store) UpdateDesk(slug string, fn func(*Desk) error) error {
	return s.update("update desk", func(tx *bolt.Tx, st *txState) error {
		d, err := getDesk(tx, slug)
		if err != nil {
			return err
		}
		if err := fn(&d); err != nil {
			return err
		}
		if d.Slug != slug {
			return fmt.Errorf("%w: a desk cannot be renamed", ErrInvalidDesk)
		}
		return putDesk(tx, d)
	})
}

// AssignJournalist puts a journalist on a desk: they receive its sources'
// submissions from now on (earlier ones are not encrypted to their key).
func (s *Store) AssignJournalist(slug, name string) error {
	return s.UpdateDesk(slug, func(d *Desk) error {
		if slices.Contains(d.Journalists, name) {
			return fmt.Errorf("%s is already on desk %s: %w", name, slug, ErrExists)
		}
		d.Journalists = append(d.Journalists, name)
		return nil
	})
}

// UnassignJournalist takes a journalist off a desk and removes from every
// mailbox of theirs the messages of the desk's sources, so they no longer
// see the desk's submissions. It returns how many messages were removed.
// (What their mail client already downloaded stays there, and was encrypted
// to their key: the relay cannot take that back.)
func (s *Store) UnassignJournalist(slug, name string) (removed int, err error) {
	err = s.update("unassign journalist", func(tx *bolt.Tx, st *txState) error {
		removed = 0
		d, err := getDesk(tx, slug)
		if err != nil {
			return err
		}
		i := slices.Index(d.Journalists, name)
		if i < 0 {
			return fmt.Errorf("%s is not on desk %s: %w", name, slug, ErrNotFound)
		}
		d.Journalists = slices.Delete(d.Journalists, i, i+1)
		if err := putDesk(tx, d); err != nil {
			return err
		}
		ids, err := deskSources(tx, slug)
		if err != nil {
			return err
		}
		byID, err := mailboxesByID(tx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			idx := tx.Bucket(bSrcMsgs).Bucket(id)
			if idx == nil {
				continue
			}
			var keys [][]byte
			if err := idx.ForEach(func(k, _ []byte) error {
				if m := byID[string(k[:8])]; len(k) == 12 && m != nil && m.j == name {
					keys = append(keys, append([]byte(nil), k...))
				}
				return nil
			}); err != nil {
				return err
			}
			for _, k := range keys {
				m := byID[string(k[:8])]
				if _, err := st.removeMessage(tx, m, beUint32(k[8:]), true); err != nil {
					return err
				}
				removed++
			}
		}
		return nil
	})
	return removed, err
}

// deskSources lists the ids of the sources on a desk.
func deskSources(tx *bolt.Tx, slug string) ([][]byte, error) {
	var ids [][]byte
	err := tx.Bucket(bSources).ForEach(func(k, _ []byte) error {
		var r sourceRec
		if err := getJSON(tx.Bucket(bSources), k, &r); err != nil {
			return err
		}
		if r.Desk == slug {
			ids = append(ids, append([]byte(nil), k...))
		}
		return nil
	})
	return ids, err
}

// RemoveDesk deletes a desk. While sources are on it, it refuses with
// ErrDeskInUse, unless deleteSources is set: then those sources are deleted
// with every submission and reply (as DeleteSource does), in the same
// transaction. It returns how many sources were deleted.
func (s *Store) RemoveDesk(slug string, deleteSources bool) (deleted int, err error) {
	err = s.update("remove desk", func(tx *bolt.Tx, st *txState) error {
		deleted = 0
		if _, err := getDesk(tx, slug); err != nil {
			return err
		}
		ids, err := deskSources(tx, slug)
		if err != nil {
			return err
		}
		if len(ids) > 0 && !deleteSources {
			return fmt.Errorf("%d source(s) on desk %s: %w", len(ids), slug, ErrDeskInUse)
		}
		if tx.Bucket(bDesks).Stats().KeyN == 1 {
			return fmt.Errorf("%w: the last desk cannot be removed: sources would have nowhere to write", ErrInvalidDesk)
		}
		for _, id := range ids {
			if err := st.deleteSource(tx, id); err != nil {
				return err
			}
			deleted++
		}
		return tx.Bucket(bDesks).Delete([]byte(slug))
	})
	if err != nil || deleted == 0 {
		return deleted, err
	}
	if err := s.Compact(); err != nil {
		return deleted, fmt.Errorf("store: remove desk: sources deleted, but %w", err)
	}
	return deleted, nil
}

// MoveSource puts a source on another desk: its next submissions go there,
// and only that desk may reply. Its stored messages stay where they are,
// encrypted to the keys of the desk that received them.
func (s *Store) MoveSource(id []byte, slug string) error {
	return s.update("move source", func(tx *bolt.Tx, st *txState) error {
		if _, err := getDesk(tx, slug); err != nil {
			return err
		}
		var r sourceRec
		if err := getJSON(tx.Bucket(bSources), id, &r); err != nil {
			return err
		}
		r.Desk = slug
		return putJSON(tx.Bucket(bSources), id, r)
	})
}

// joinSoleDesk puts a new journalist on the instance's desk when there is
// exactly one: an instance with one desk behaves as one without desks.
func joinSoleDesk(tx *bolt.Tx, name string) error {
	b := tx.Bucket(bDesks)
	if b.Stats().KeyN != 1 {
		return nil
	}
	k, _ := b.Cursor().First()
	d, err := getDesk(tx, string(k))
	if err != nil {
		return err
	}
	d.Journalists = append(d.Journalists, name)
	return putDesk(tx, d)
}

// leaveDesks takes a removed journalist off every desk.
func leaveDesks(tx *bolt.Tx, name string) error {
	var slugs []string
	if err := tx.Bucket(bDesks).ForEach(func(k, _ []byte) error {
		slugs = append(slugs, string(k))
		return nil
	}); err != nil {
		return err
	}
	for _, slug := range slugs {
		d, err := getDesk(tx, slug)
		if err != nil {
			return err
		}
		if i := slices.Index(d.Journalists, name); i >= 0 {
			d.Journalists = slices.Delete(d.Journalists, i, i+1)
			if err := putJSON(tx.Bucket(bDesks), []byte(slug), deskRecord(d)); err != nil {
				return err
			}
		}
	}
	return nil
}

// sourceDesk is the desk a new source record gets when it names none: the
// instance's only desk. With several desks the caller must choose.
func sourceDesk(tx *bolt.Tx, want string) (string, error) {
	if want != "" {
		if _, err := getDesk(tx, want); err != nil {
			return "", err
		}
		return want, nil
	}
	b := tx.Bucket(bDesks)
	if n := b.Stats().KeyN; n != 1 {
		return "", fmt.Errorf("%w: a source needs a desk, and the instance has %d", ErrInvalidDesk, n)
	}
	k, _ := b.Cursor().First()
	return string(k), nil
}

// migrateDesks is migration 0002: an instance made before desks gets one
// desk, DefaultDesk, holding every journalist, and every source is put on it.
func migrateDesks(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bDesks); err != nil {
		return err
	}
	if tx.Bucket(bDesks).Get([]byte(DefaultDesk)) == nil {
		var names []string
		if err := tx.Bucket(bJournalists).ForEach(func(k, _ []byte) error {
			var r journalistRec
			if err := getJSON(tx.Bucket(bJournalists), k, &r); err != nil {
				return err
			}
			if !r.System { // a system account (selftest) sits on no desk
				names = append(names, string(k))
			}
			return nil
		}); err != nil {
			return err
		}
		d := Desk{Slug: DefaultDesk, Title: defaultDeskTitle, Journalists: names}
		if err := putDesk(tx, d); err != nil {
			return err
		}
	}
	sb := tx.Bucket(bSources)
	var ids [][]byte
	if err := sb.ForEach(func(k, _ []byte) error {
		ids = append(ids, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		var r sourceRec
		if err := getJSON(sb, id, &r); err != nil {
			return err
		}
		if r.Desk == "" {
			r.Desk = DefaultDesk
			if err := putJSON(sb, id, r); err != nil {
				return err
			}
		}
	}
	return nil
}

const defaultDeskTitle = "Newsroom"

// checkDesks is Check's part about desks: every source is on an existing
// desk and every desk's journalists exist.
func checkDesks(tx *bolt.Tx, add func(format string, args ...any)) error {
	desks := map[string]bool{}
	err := tx.Bucket(bDesks).ForEach(func(k, _ []byte) error {
		d, err := getDesk(tx, string(k))
		if err != nil {
			return err
		}
		desks[d.Slug] = true
		for _, j := range d.Journalists {
			if tx.Bucket(bJournalists).Get([]byte(j)) == nil {
				add("desk %s: journalist %s does not exist", d.Slug, j)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bSources).ForEach(func(k, _ []byte) error {
		var r sourceRec
		if err := getJSON(tx.Bucket(bSources), k, &r); err != nil {
			return err
		}
		if !desks[r.Desk] {
			add("a source is on desk %q, which does not exist", r.Desk)
		}
		return nil
	})
}

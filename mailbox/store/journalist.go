package store

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// journalistRec is a Journalist as stored (the name is the key).
type journalistRec struct {
	PasswordHash    string `json:"h,omitempty"`
	PublicKey       []byte `json:"k,omitempty"`
	Fingerprint     string `json:"f,omitempty"`
	KeyExpires      int64  `json:"e,omitempty"`
	OnionAuthPublic string `json:"o,omitempty"`
	Created         int64  `json:"c,omitempty"`
	System          bool   `json:"s,omitempty"`
}

func (r journalistRec) journalist(name string) Journalist {
	return Journalist{
		Name:            name,
		PasswordHash:    r.PasswordHash,
		PublicKey:       r.PublicKey,
		Fingerprint:     r.Fingerprint,
		KeyExpires:      unixDay(r.KeyExpires),
		OnionAuthPublic: r.OnionAuthPublic,
		Created:         unixDay(r.Created),
		System:          r.System,
	}
}

func journalistRecord(j Journalist) journalistRec {
	return journalistRec{
		PasswordHash:    j.PasswordHash,
		PublicKey:       j.PublicKey,
		Fingerprint:     j.Fingerprint,
		KeyExpires:      dayUnix(j.KeyExpires),
		OnionAuthPublic: j.OnionAuthPublic,
		Created:         dayUnix(j.Created),
		System:          j.System,
	}
}

// defaultMailboxes are made for every journalist up front: Thunderbird stalls its
// first sync when it has to create Trash itself.
var defaultMailboxes = []struct{ name, use string }{
	{"INBOX", ""},
	{"Sent", `\Sent`},
	{"Drafts", `\Drafts`},
	{"Trash", `\Trash`},
	{"Archive", `\Archive`},
	{"Junk", `\Junk`},
}

func validName(name string) error {
	if name == "" || len(name) > 128 || !utf8.ValidString(name) {
		return errors.New("invalid journalist name")
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return errors.New("invalid journalist name")
		}
	}
	return nil
}

// AddJournalist adds a journalist with the default mailboxes (INBOX, Sent, Drafts,
// Trash, Archive, Junk, all subscribed). ErrExists if the name is taken. When
// the instance has exactly one desk, the journalist joins it; with several,
// the admin assigns them (AssignJournalist).
func (s *Store) AddJournalist(j Journalist) error {
	if err := validName(j.Name); err != nil {
		return fmt.Errorf("store: add journalist: %w", err)
	}
	if j.Created.IsZero() {
		j.Created = s.opts.Now()
	}
	return s.update("add journalist", func(tx *bolt.Tx, st *txState) error {
		jb := tx.Bucket(bJournalists)
		if jb.Get([]byte(j.Name)) != nil {
			return ErrExists
		}
		if err := putJSON(jb, []byte(j.Name), journalistRecord(j)); err != nil {
			return err
		}
		if _, err := tx.Bucket(bMailboxes).CreateBucket([]byte(j.Name)); err != nil {
			return err
		}
		for _, m := range defaultMailboxes {
			if err := createMailboxTx(tx, j.Name, m.name, m.use, true); err != nil {
				return err
			}
		}
		if j.System {
			return nil // a system account (selftest) sits on no desk
		}
		return joinSoleDesk(tx, j.Name)
	})
}

// Journalist returns one journalist, or ErrNotFound.
func (s *Store) Journalist(name string) (Journalist, error) {
	var j Journalist
	err := s.view(func(tx *bolt.Tx) error {
		var r journalistRec
		if err := getJSON(tx.Bucket(bJournalists), []byte(name), &r); err != nil {
			return err
		}
		j = r.journalist(name)
		return nil
	})
	if err != nil {
		return Journalist{}, fmt.Errorf("store: journalist: %w", err)
	}
	return j, nil
}

// Journalists returns all journalists sorted by name, without the system
// account (Journalist.System).
func (s *Store) Journalists() ([]Journalist, error) {
	var out []Journalist
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bJournalists).ForEach(func(k, _ []byte) error {
			var r journalistRec
			if err := getJSON(tx.Bucket(bJournalists), k, &r); err != nil {
				return err
			}
			if !r.System {
				out = append(out, r.journalist(string(k)))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: journalists: %w", err)
	}
	return out, nil
}

// UpdateJournalist changes a journalist in one transaction: fn gets the current
// record and edits it; an error from fn aborts. The name cannot change. When the
// password hash or the onion client key changes, subscribers get EventLogout for the
// journalist, so a revoked credential ends the sessions opened with it.
func (s *Store) UpdateJournalist(name string, fn func(*Journalist) error) error {
	return s.update("update journalist", func(tx *bolt.Tx, st *txState) error {
		jb := tx.Bucket(bJournalists)
		var r journalistRec
		if err := getJSON(jb, []byte(name), &r); err != nil {
			return err
		}
		j := r.journalist(name)
		if err := fn(&j); err != nil {
			return err
		}
		if j.Name != name {
			return errors.New("a journalist cannot be renamed")
		}
		if j.PasswordHash != r.PasswordHash || j.OnionAuthPublic != r.OnionAuthPublic {
			st.emit(name, "", EventLogout)
		}
		return putJSON(jb, []byte(name), journalistRecord(j))
	})
}

// RemoveJournalist deletes a journalist and their mailboxes. Blobs that only they
// held are overwritten and removed. Subscribers get EventLogout for the journalist.
func (s *Store) RemoveJournalist(name string) error {
	return s.update("remove journalist", func(tx *bolt.Tx, st *txState) error {
		if tx.Bucket(bJournalists).Get([]byte(name)) == nil {
			return ErrNotFound
		}
		mbs := tx.Bucket(bMailboxes).Bucket([]byte(name))
		if mbs != nil {
			var names []string
			if err := mbs.ForEach(func(k, _ []byte) error {
				names = append(names, string(k))
				return nil
			}); err != nil {
				return err
			}
			for _, n := range names {
				m, err := getMailbox(tx, name, n)
				if err != nil {
					return err
				}
				if err := st.dropMailbox(tx, m, false); err != nil {
					return err
				}
			}
			if err := tx.Bucket(bMailboxes).DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := leaveDesks(tx, name); err != nil {
			return err
		}
		if err := tx.Bucket(bJournalists).Delete([]byte(name)); err != nil {
			return err
		}
		st.emit(name, "", EventLogout)
		return nil
	})
}

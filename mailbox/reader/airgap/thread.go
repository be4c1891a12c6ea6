package airgap

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The reader's own records live in OUT/.postern: what was opened, and one
// thread per source (the transcripts and STATUS.txt are rebuilt from it).
const (
	stateDir  = ".postern"
	stateFile = "state.json"
	logFile   = "opened.log" // one line per message opened: key, sha256, seq
)

// Roles of a message in a thread.
const (
	RoleSource   = "source"
	RoleNewsroom = "newsroom"
)

// File is one attachment as saved.
type File struct {
	Name   string `json:"name"` // in files/ (and safe/ when cleaned)
	Orig   string `json:"orig"` // as the mail named it, sanitised
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Status is "" until the cleaner ran, then "cleaned" or why not.
	Status string `json:"status"`
}

// Entry is one message of a thread.
type Entry struct {
	Seq       int    `json:"seq"` // the order in which the reader saw it
	Role      string `json:"role"`
	Day       string `json:"day"`
	MessageID string `json:"message_id"`
	InReplyTo string `json:"in_reply_to,omitempty"`
	Subject   string `json:"subject"`
	Text      string `json:"text"`
	Files     []File `json:"files,omitempty"`
	// Outbox marks a reply written here and not yet seen back from the relay.
	Outbox bool `json:"outbox,omitempty"`
}

// Thread is everything about one source.
type Thread struct {
	Designation string  `json:"designation"`
	Address     string  `json:"address"`
	Folder      string  `json:"folder"`
	Autocrypt   string  `json:"autocrypt,omitempty"` // the source's key, from its latest submission
	Entries     []Entry `json:"entries"`
}

// state is OUT/.postern/state.json (sources) and opened.log (messages),
// appended to per message so a run costs no rewrite of a growing file.
type state struct {
	Done    map[string]string `json:"-"`       // message key → sha256 of the copy opened
	Sources map[string]string `json:"sources"` // source address → folder
	Seq     int               `json:"seq"`
}

func (st *state) save(out string) error {
	return saveJSON(filepath.Join(out, stateDir, stateFile), st)
}

func loadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is damaged: %w", path, err)
	}
	return nil
}

// saveJSON replaces path in one step.
func saveJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadState(out string) (*state, error) {
	st := &state{Done: map[string]string{}, Sources: map[string]string{}}
	err := loadJSON(filepath.Join(out, stateDir, stateFile), st)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if st.Done == nil {
		st.Done = map[string]string{}
	}
	if st.Sources == nil {
		st.Sources = map[string]string{}
	}
	b, err := os.ReadFile(filepath.Join(out, stateDir, logFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue // a line cut by a crash: that message is opened again
		}
		st.Done[f[0]] = f[1]
		if n, err := strconv.Atoi(f[2]); err == nil && n > st.Seq {
			st.Seq = n
		}
	}
	return st, nil
}

func threadPath(out, folder string) string {
	return filepath.Join(out, stateDir, "thread-"+folder+".json")
}

// LoadThread reads the thread of the source whose designation (or folder
// name) is given, from a folder `open` wrote.
func LoadThread(out, designation string) (*Thread, error) {
	folder := folderName(designation)
	t := &Thread{}
	if err := loadJSON(threadPath(out, folder), t); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no source %q in %s (open a transfer there first)", designation, out)
		}
		return nil, err
	}
	return t, nil
}

func (t *Thread) save(out string) error {
	return saveJSON(threadPath(out, t.Folder), t)
}

// has reports whether the thread holds e already (by Message-ID), other than
// as a reply waiting in the outbox that e, the relay's copy, replaces.
func (t *Thread) has(e Entry) bool {
	for _, old := range t.Entries {
		if e.MessageID != "" && old.MessageID == e.MessageID {
			return !old.Outbox || e.Outbox
		}
	}
	return false
}

// add appends e, or replaces the outbox reply with its Message-ID.
func (t *Thread) add(e Entry) {
	for i, old := range t.Entries {
		if e.MessageID != "" && old.MessageID == e.MessageID {
			e.Seq = old.Seq
			t.Entries[i] = e
			return
		}
	}
	t.Entries = append(t.Entries, e)
}

// ordered returns the entries in reading order: by day, then in the order
// seen, except that a newsroom reply follows the message it answers when
// both are of the same day (dates are only days, so order within a day is
// otherwise the order of the mailbox).
func (t *Thread) ordered() []Entry {
	es := append([]Entry(nil), t.Entries...)
	byID := map[string]Entry{}
	for _, e := range es {
		byID[e.MessageID] = e
	}
	key := func(e Entry) float64 {
		if p, ok := byID[e.InReplyTo]; ok && e.Role == RoleNewsroom && p.Day == e.Day && p.Seq < e.Seq {
			return float64(p.Seq) + 0.5
		}
		return float64(e.Seq)
	}
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Day != es[j].Day {
			return es[i].Day < es[j].Day
		}
		return key(es[i]) < key(es[j])
	})
	return es
}

// folderName is the folder of a source: its designation, lowercased, with
// dashes for spaces, made safe.
func folderName(designation string) string {
	d := strings.ToLower(strings.Join(strings.Fields(designation), "-"))
	d = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == '.' {
			return '-'
		}
		return r
	}, d)
	return SafeName(d)
}

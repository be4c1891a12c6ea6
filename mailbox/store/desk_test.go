package store

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestNewInstanceHasOneDeskEveryJournalistJoins(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	addJournalist(t, s, "bob")
	d, js, err := s.DeskJournalists(DefaultDesk)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Journalists, []string{"ana", "bob"}) || len(js) != 2 {
		t.Fatalf("default desk = %+v", d)
	}
	src := addSource(t, s, "elder marmot")
	got, _ := s.Source(src.ID)
	if got.Desk != DefaultDesk {
		t.Errorf("source desk = %q", got.Desk)
	}
	// With a second desk, a new journalist joins none and a source must name one.
	if err := s.AddDesk(Desk{Slug: "politics", Title: "Politics"}); err != nil {
		t.Fatal(err)
	}
	addJournalist(t, s, "cy")
	for _, slug := range []string{DefaultDesk, "politics"} {
		if d, _ := s.Desk(slug); slices.Contains(d.Journalists, "cy") {
			t.Errorf("cy joined %s on her own", slug)
		}
	}
	err = s.CreateSource(Source{ID: randomBytes(t, 32), Designation: "x y", Address: "x.y@e.onion"})
	if err == nil {
		t.Error("a source without a desk was created with two desks")
	}
}

func TestDeskBadInputChangesNothing(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	for _, d := range []Desk{
		{Slug: "Politics", Title: "P"}, {Slug: "", Title: "P"}, {Slug: "a_b", Title: "P"},
		{Slug: "x234567890123456789012345678901234", Title: "P"}, {Slug: "ok", Title: ""},
		{Slug: "ok", Title: "two\nlines"}, {Slug: "ok", Title: "P", RetentionDays: -2},
		{Slug: "ok", Title: "P", Journalists: []string{"nobody"}},
	} {
		if err := s.AddDesk(d); err == nil {
			t.Errorf("AddDesk(%+v) accepted", d)
		}
	}
	if err := s.AddDesk(Desk{Slug: DefaultDesk, Title: "again"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate slug: %v", err)
	}
	if err := s.AssignJournalist(DefaultDesk, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("assign unknown journalist: %v", err)
	}
	if err := s.AssignJournalist("nodesk", "ana"); !errors.Is(err, ErrNotFound) {
		t.Errorf("assign to unknown desk: %v", err)
	}
	ds, _ := s.Desks()
	if len(ds) != 1 || !slices.Equal(ds[0].Journalists, []string{"ana"}) {
		t.Errorf("desks changed: %+v", ds)
	}
}

func TestRemoveDeskRefusedWhileItHoldsSources(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	if err := s.AddDesk(Desk{Slug: "tips", Title: "Tips", Journalists: []string{"ana"}}); err != nil {
		t.Fatal(err)
	}
	src := Source{ID: randomBytes(t, 32), Designation: "odd duck", Address: "odd.duck@e.onion", Desk: "tips"}
	if err := s.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("x")), SourceID: src.ID, Journalists: []string{"ana"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveDesk(DefaultDesk, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveDesk("tips", false); !errors.Is(err, ErrDeskInUse) {
		t.Fatalf("remove a desk holding a source: %v", err)
	}
	if _, err := s.Source(src.ID); err != nil {
		t.Fatalf("source gone after a refused removal: %v", err)
	}
	if err := s.AddDesk(Desk{Slug: "other", Title: "Other"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.RemoveDesk("tips", true)
	if err != nil || n != 1 {
		t.Fatalf("remove with sources: %d %v", n, err)
	}
	if _, err := s.RemoveDesk("other", false); !errors.Is(err, ErrInvalidDesk) {
		t.Errorf("removing the last desk: %v", err)
	}
	if _, err := s.Source(src.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("source after removal: %v", err)
	}
	if msgs, _ := s.Messages("ana", "INBOX"); len(msgs) != 0 {
		t.Errorf("ana still has %d messages", len(msgs))
	}
	mustCheck(t, s)
}

func TestUnassignRemovesTheDesksMailFromTheJournalist(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	addJournalist(t, s, "bob")
	src := addSource(t, s, "elder marmot")
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("x")), SourceID: src.ID}); err != nil {
		t.Fatal(err)
	}
	n, err := s.UnassignJournalist(DefaultDesk, "bob")
	if err != nil || n != 1 {
		t.Fatalf("unassign: %d %v", n, err)
	}
	if msgs, _ := s.Messages("bob", "INBOX"); len(msgs) != 0 {
		t.Errorf("bob still sees %d messages of the desk", len(msgs))
	}
	if msgs, _ := s.Messages("ana", "INBOX"); len(msgs) != 1 {
		t.Errorf("ana lost the desk's message: %d", len(msgs))
	}
	mustCheck(t, s)
}

func TestDeskRetentionOverridesTheInstances(t *testing.T) {
	c := &clock{t: afternoon}
	s, err := Init(t.TempDir()+"/d", testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addJournalist(t, s, "ana")
	if err := s.AddDesk(Desk{Slug: "short", Title: "Short", Journalists: []string{"ana"}}); err != nil {
		t.Fatal(err)
	}
	long := addSourceOn(t, s, "long haul", DefaultDesk)
	short := addSourceOn(t, s, "short trip", "short")
	for _, src := range []Source{long, short} {
		if err := s.Deliver(Delivery{Blob: putBlob(t, s, randomBytes(t, 64)), SourceID: src.ID}); err != nil {
			t.Fatal(err)
		}
	}
	c.Set(afternoon.Add(5 * 24 * time.Hour))
	// The instance keeps 30 days; the short desk 2.
	r := Retention{Default: c.Now().AddDate(0, 0, -29), Desks: map[string]time.Time{"short": c.Now().AddDate(0, 0, -1)}}
	n, err := s.ExpireRetention(r)
	if err != nil {
		t.Fatal(err)
	}
	if n.Messages != 1 {
		t.Fatalf("expired %d messages, want the short desk's one", n.Messages)
	}
	msgs, _ := s.Messages("ana", "INBOX")
	if len(msgs) != 1 || string(msgs[0].SourceID) != string(long.ID) {
		t.Errorf("left: %+v", msgs)
	}
	mustCheck(t, s)
}

func addSourceOn(t *testing.T, s *Store, designation, desk string) Source {
	t.Helper()
	src := Source{ID: randomBytes(t, 32), Designation: designation,
		Address: strings.ReplaceAll(designation, " ", ".") + "@e.onion", Desk: desk}
	if err := s.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestCheckFindsASourceOnAMissingDesk(t *testing.T) {
	s, _ := newTestStore(t)
	src := addSource(t, s, "elder marmot")
	mustCheck(t, s)
	err := s.update("test", func(tx *bolt.Tx, st *txState) error {
		var r sourceRec
		if err := getJSON(tx.Bucket(bSources), src.ID, &r); err != nil {
			return err
		}
		r.Desk = "gone"
		return putJSON(tx.Bucket(bSources), src.ID, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), `desk "gone"`) {
		t.Errorf("check: %v", err)
	}
}

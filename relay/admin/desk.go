package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"postern/mailbox/store"
)

// DeskRequest is one `relay desk …` operation. It travels as one value (and
// one control-socket operation) so that desks add a single method to Ops.
type DeskRequest struct {
	Op          string  `json:"op"` // add, list, edit, remove, assign, unassign, move
	Slug        string  `json:"slug,omitempty"`
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
	Hidden      *bool   `json:"hidden,omitempty"`
	// RetentionDays: nil leaves it; 0 inherits the instance's,
	// store.RetentionForever keeps forever, N > 0 keeps N days.
	RetentionDays     *int   `json:"retention_days,omitempty"`
	Journalist        string `json:"journalist,omitempty"`
	Designation       string `json:"designation,omitempty"`
	DeleteSubmissions bool   `json:"delete_submissions,omitempty"`
}

// DeskInfo is a desk as `relay desk list` and `relay status` show it.
type DeskInfo struct {
	Slug        string `json:"slug"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Hidden      bool   `json:"hidden"`
	// RetentionDays is the desk's own retention: 0 inherits the instance's,
	// -1 keeps forever.
	RetentionDays int      `json:"retention_days"`
	Journalists   []string `json:"journalists"`
	Sources       int      `json:"sources"`
	Submissions   int      `json:"submissions"` // distinct submissions held for its sources
}

// DeskResult answers a DeskRequest: the desks concerned, and what a removal,
// an unassignment or a move did.
type DeskResult struct {
	Desks          []DeskInfo `json:"desks"`
	DeletedSources int        `json:"deleted_sources,omitempty"`
	RemovedCopies  int        `json:"removed_copies,omitempty"` // unassign: messages taken from the journalist's mailboxes
	MovedFrom      string     `json:"moved_from,omitempty"`
}

// Desk runs one desk operation. Bad input (a slug not [a-z0-9-]{1,32}, an
// unknown desk or journalist, a text sources could not read) is an
// ErrInvalid or ErrNotFound and changes nothing.
func (a *Admin) Desk(ctx context.Context, req DeskRequest) (DeskResult, error) {
	if err := ctx.Err(); err != nil {
		return DeskResult{}, err
	}
	if req.Op != "list" {
		if err := store.ValidSlug(req.Slug); err != nil {
			return DeskResult{}, fail(ErrInvalid, "bad desk slug %q: %v", clip(req.Slug), err)
		}
	}
	var res DeskResult
	var err error
	switch req.Op {
	case "list":
		return a.deskResult(res, "")
	case "add":
		d := store.Desk{Slug: req.Slug}
		applyDesk(&d, req)
		err = a.st.AddDesk(d)
	case "edit":
		err = a.st.UpdateDesk(req.Slug, func(d *store.Desk) error {
			applyDesk(d, req)
			return nil
		})
	case "remove":
		res.DeletedSources, err = a.st.RemoveDesk(req.Slug, req.DeleteSubmissions)
		if err == nil {
			return res, nil
		}
	case "assign":
		if err := a.knownJournalist(req.Journalist); err != nil {
			return DeskResult{}, err
		}
		err = a.st.AssignJournalist(req.Slug, req.Journalist)
	case "unassign":
		if err := a.knownJournalist(req.Journalist); err != nil {
			return DeskResult{}, err
		}
		res.RemovedCopies, err = a.st.UnassignJournalist(req.Slug, req.Journalist)
	case "move":
		if err := validDesignation(req.Designation); err != nil {
			return DeskResult{}, err
		}
		src, serr := a.st.SourceByDesignation(req.Designation)
		if errors.Is(serr, store.ErrNotFound) {
			return DeskResult{}, fail(ErrNotFound, "no source designated %q ('relay source list' shows them)", clip(req.Designation))
		} else if serr != nil {
			return DeskResult{}, fail(ErrInternal, "%v", serr)
		}
		if src.Desk == req.Slug {
			return DeskResult{}, fail(ErrInvalid, "source %q is already on desk %s", clip(req.Designation), req.Slug)
		}
		res.MovedFrom = src.Desk
		err = a.st.MoveSource(src.ID, req.Slug)
	default:
		return DeskResult{}, fail(ErrInvalid, "unknown desk operation %q", clip(req.Op))
	}
	if err != nil {
		return DeskResult{}, deskError(req.Slug, err)
	}
	return a.deskResult(res, req.Slug)
}

func applyDesk(d *store.Desk, req DeskRequest) {
	if req.Title != nil {
		d.Title = *req.Title
	}
	if req.Description != nil {
		d.Description = *req.Description
	}
	if req.Hidden != nil {
		d.Hidden = *req.Hidden
	}
	if req.RetentionDays != nil {
		d.RetentionDays = *req.RetentionDays
	}
}

func (a *Admin) knownJournalist(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if _, err := a.st.Journalist(name); errors.Is(err, store.ErrNotFound) {
		return fail(ErrNotFound, "no journalist named %q ('relay journalist list' shows them)", clip(name))
	} else if err != nil {
		return fail(ErrInternal, "%v", err)
	}
	return nil
}

// deskError maps the store's refusals to the admin's kinds, with words an
// admin can act on.
func deskError(slug string, err error) error {
	switch {
	case errors.Is(err, store.ErrDeskInUse):
		return fail(ErrInvalid, "desk %s still holds sources (%v): move them with 'relay desk move', or remove it with --delete-submissions to delete them", slug, err)
	case errors.Is(err, store.ErrExists):
		return fail(ErrExists, "%v", err)
	case errors.Is(err, store.ErrNotFound):
		return fail(ErrNotFound, "%v ('relay desk list' shows the desks)", err)
	}
	if errors.Is(err, store.ErrInvalidDesk) {
		return fail(ErrInvalid, "%v", err)
	}
	return fail(ErrInternal, "%v", err)
}

// deskResult fills res with every desk (only one, when slug is set).
func (a *Admin) deskResult(res DeskResult, slug string) (DeskResult, error) {
	infos, err := a.deskInfos()
	if err != nil {
		return DeskResult{}, err
	}
	res.Desks = []DeskInfo{}
	for _, d := range infos {
		if slug == "" || d.Slug == slug {
			res.Desks = append(res.Desks, d)
		}
	}
	return res, nil
}

// deskInfos lists every desk with its counts.
func (a *Admin) deskInfos() ([]DeskInfo, error) {
	out, err := a.deskRoster()
	if err != nil {
		return nil, err
	}
	sums, err := a.st.Sources()
	if err != nil {
		return nil, fail(ErrInternal, "%v", err)
	}
	for i := range out {
		for _, s := range sums {
			if s.Desk == out[i].Slug {
				out[i].Sources++
				out[i].Submissions += s.Messages
			}
		}
	}
	return out, nil
}

// deskRoster lists every desk with its journalists and no counts: no pass
// over the sources, so it is cheap enough for what a source's request
// asks (the published manifest's check).
func (a *Admin) deskRoster() ([]DeskInfo, error) {
	desks, err := a.st.Desks()
	if err != nil {
		return nil, fail(ErrInternal, "%v", err)
	}
	out := make([]DeskInfo, 0, len(desks))
	for _, d := range desks {
		out = append(out, DeskInfo{Slug: d.Slug, Title: d.Title, Description: d.Description, Hidden: d.Hidden,
			RetentionDays: d.RetentionDays, Journalists: append([]string{}, d.Journalists...)})
	}
	return out, nil
}

// deskWarnings are the status lines about desks: a desk no journalist sits
// on turns its sources away, and a journalist on no desk receives nothing.
// An instance with no journalist at all has its own warning (status.go).
func (a *Admin) deskWarnings(desks []DeskInfo) []string {
	js, err := a.st.Journalists()
	if err != nil || len(js) == 0 {
		return nil
	}
	var out []string
	seated := map[string]bool{}
	for _, d := range desks {
		if len(d.Journalists) == 0 {
			out = append(out, fmt.Sprintf("desk %s has no journalist: its sources cannot submit; assign one with 'relay desk assign %s NAME'", d.Slug, d.Slug))
		}
		for _, j := range d.Journalists {
			seated[j] = true
		}
	}
	for _, j := range js {
		if !seated[j.Name] {
			out = append(out, fmt.Sprintf("journalist %s is on no desk and receives no submission; assign them with 'relay desk assign SLUG %s'", j.Name, j.Name))
		}
	}
	return out
}

// retention resolves retention_days and the desks' own retention into the
// cutoffs of a pass on the day of now: a desk's retention overrides the
// instance's. active is false when nothing would ever expire.
func (a *Admin) retention(now time.Time) (pol store.Retention, active bool, err error) {
	if a.cfg.RetentionDays > 0 {
		pol.Default, active = retentionCutoff(now, a.cfg.RetentionDays), true
	}
	desks, err := a.st.Desks()
	if err != nil {
		return pol, false, fail(ErrInternal, "%v", err)
	}
	pol.Desks = map[string]time.Time{}
	for _, d := range desks {
		switch {
		case d.RetentionDays > 0:
			pol.Desks[d.Slug], active = retentionCutoff(now, d.RetentionDays), true
		case d.RetentionDays == store.RetentionForever:
			pol.Desks[d.Slug] = time.Time{} // kept, whatever the instance's
		}
	}
	return pol, active, nil
}

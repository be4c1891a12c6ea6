package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"postern/mailbox/store"
	"postern/relay/admin"
)

// deskCommands are `relay desk …`, listed in help after the source commands.
func deskCommands() []command {
	return []command{
		{"desk add", "SLUG --title TITLE [--description TEXT] [--hidden] [--retention-days N|forever] [--data DIR] [--json]",
			"create a desk sources can choose (hidden: reachable only by its link /d/SLUG)", (*runner).cmdDeskAdd},
		{"desk list", "[--data DIR] [--json]",
			"list desks with their journalists, sources and submissions", (*runner).cmdDeskList},
		{"desk edit", "SLUG [--title TITLE] [--description TEXT] [--hidden=true|false] [--retention-days N|forever|default] [--data DIR] [--json]",
			"change a desk's title, description, visibility or retention", (*runner).cmdDeskEdit},
		{"desk remove", "SLUG [--delete-submissions] [--data DIR] [--json]",
			"remove a desk; refused while sources are on it, unless their submissions are deleted too", (*runner).cmdDeskRemove},
		{"desk assign", "SLUG JOURNALIST [--data DIR] [--json]",
			"put a journalist on a desk: its new submissions are encrypted to their key too", (*runner).cmdDeskAssign},
		{"desk unassign", "SLUG JOURNALIST [--data DIR] [--json]",
			"take a journalist off a desk and the desk's submissions out of their mailboxes", (*runner).cmdDeskUnassign},
		{"desk move", "\"DESIGNATION\" SLUG [--data DIR] [--json]",
			"move a source to another desk; its earlier submissions stay readable only by the old desk", (*runner).cmdDeskMove},
	}
}

// deskFlags are the settable values of add and edit.
type deskFlags struct {
	title, description, retention *string
	hidden                        *bool
}

func (r *runner) deskFlagSet(cmd string) (*flags, deskFlags) {
	f := r.newFlags(cmd, true)
	return f, deskFlags{
		title:       f.String("title", "", "the desk's name, as sources see it"),
		description: f.String("description", "", "one paragraph sources read before choosing"),
		retention:   f.String("retention-days", "", "days its submissions are kept (overrides retention_days), forever, or default"),
		hidden:      f.Bool("hidden", false, "never list the desk: only its link /d/SLUG reaches it"),
	}
}

// request turns the flags given on the command line into a DeskRequest.
func (df deskFlags) request(cmd, op, slug string, f *flags) (admin.DeskRequest, error) {
	req := admin.DeskRequest{Op: op, Slug: slug}
	var err error
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "title":
			req.Title = df.title
		case "description":
			req.Description = df.description
		case "hidden":
			req.Hidden = df.hidden
		case "retention-days":
			var days int
			if days, err = parseDeskRetention(cmd, *df.retention); err == nil {
				req.RetentionDays = &days
			}
		}
	})
	return req, err
}

// parseDeskRetention reads --retention-days: N days (1 to 100000), forever,
// or default (the instance's retention_days).
func parseDeskRetention(cmd, v string) (int, error) {
	switch v {
	case "forever":
		return store.RetentionForever, nil
	case "default", "0":
		return 0, nil
	}
	days, err := strconv.Atoi(v)
	if err != nil || days < 1 || days > 100_000 {
		return 0, usagef(cmd, "%s: --retention-days wants a number of days from 1 to 100000, forever or default, not %q", cmd, clip(v))
	}
	return days, nil
}

// slugArg checks a desk slug on the command line, before anything is opened.
func slugArg(cmd, slug string) error {
	if err := store.ValidSlug(slug); err != nil {
		return usagef(cmd, "%s: bad desk slug %q: %v", cmd, clip(slug), err)
	}
	return nil
}

func (r *runner) cmdDeskAdd(args []string) error {
	const cmd = "desk add"
	f, df := r.deskFlagSet(cmd)
	pos, err := f.parse(args, 1, "SLUG")
	if err != nil {
		return err
	}
	if err := slugArg(cmd, pos[0]); err != nil {
		return err
	}
	if strings.TrimSpace(*df.title) == "" {
		return usagef(cmd, "%s: --title is required: it is what sources choose by", cmd)
	}
	req, err := df.request(cmd, "add", pos[0], f)
	if err != nil {
		return err
	}
	return r.deskOp(f, req, func(w io.Writer, res admin.DeskResult) {
		fmt.Fprintf(w, "Desk %s added.\n", req.Slug)
		printDesks(w, res.Desks)
		if d := res.Desks; len(d) == 1 && len(d[0].Journalists) == 0 {
			fmt.Fprintf(w, "It has no journalist yet, so sources cannot submit to it: relay desk assign %s NAME\n", req.Slug)
		}
	})
}

func (r *runner) cmdDeskEdit(args []string) error {
	const cmd = "desk edit"
	f, df := r.deskFlagSet(cmd)
	pos, err := f.parse(args, 1, "SLUG")
	if err != nil {
		return err
	}
	if err := slugArg(cmd, pos[0]); err != nil {
		return err
	}
	req, err := df.request(cmd, "edit", pos[0], f)
	if err != nil {
		return err
	}
	if req.Title == nil && req.Description == nil && req.Hidden == nil && req.RetentionDays == nil {
		return usagef(cmd, "%s: nothing to change: give --title, --description, --hidden or --retention-days", cmd)
	}
	return r.deskOp(f, req, func(w io.Writer, res admin.DeskResult) {
		fmt.Fprintf(w, "Desk %s changed.\n", req.Slug)
		printDesks(w, res.Desks)
	})
}

func (r *runner) cmdDeskList(args []string) error {
	f := r.newFlags("desk list", true)
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	return r.deskOp(f, admin.DeskRequest{Op: "list"}, func(w io.Writer, res admin.DeskResult) {
		printDesks(w, res.Desks)
	})
}

func (r *runner) cmdDeskRemove(args []string) error {
	const cmd = "desk remove"
	f := r.newFlags(cmd, true)
	del := f.Bool("delete-submissions", false, "also delete the desk's sources with every submission and reply")
	pos, err := f.parse(args, 1, "SLUG")
	if err != nil {
		return err
	}
	if err := slugArg(cmd, pos[0]); err != nil {
		return err
	}
	req := admin.DeskRequest{Op: "remove", Slug: pos[0], DeleteSubmissions: *del}
	return r.deskOp(f, req, func(w io.Writer, res admin.DeskResult) {
		fmt.Fprintf(w, "Desk %s removed.\n", req.Slug)
		if res.DeletedSources > 0 {
			fmt.Fprintf(w, "Its %d source(s) were deleted with every submission and reply; files shredded, database compacted.\n", res.DeletedSources)
		}
	})
}

func (r *runner) cmdDeskAssign(args []string) error {
	return r.deskMember("desk assign", "assign", args, func(w io.Writer, slug, name string, _ admin.DeskResult) {
		fmt.Fprintf(w, "%s is on desk %s: its new submissions are encrypted to their key too.\n"+
			"Earlier submissions were not, so they stay out of %s's mailbox.\n", name, slug, name)
	})
}

func (r *runner) cmdDeskUnassign(args []string) error {
	return r.deskMember("desk unassign", "unassign", args, func(w io.Writer, slug, name string, res admin.DeskResult) {
		fmt.Fprintf(w, "%s is off desk %s: %d message(s) of its sources were removed from their mailboxes,\n"+
			"and they can no longer reply to its sources. What their mail client already downloaded\n"+
			"stays there, and was encrypted to their key: the relay cannot take that back.\n", name, slug, res.RemovedCopies)
		if d := res.Desks; len(d) == 1 && len(d[0].Journalists) == 0 {
			fmt.Fprintf(w, "WARNING: desk %s has no journalist left: its sources cannot submit.\n", slug)
		}
	})
}

// deskMember runs assign and unassign: SLUG JOURNALIST.
func (r *runner) deskMember(cmd, op string, args []string, human func(io.Writer, string, string, admin.DeskResult)) error {
	f := r.newFlags(cmd, true)
	pos, err := f.parse(args, 2, "SLUG JOURNALIST")
	if err != nil {
		return err
	}
	if err := slugArg(cmd, pos[0]); err != nil {
		return err
	}
	if err := admin.ValidName(pos[1]); err != nil {
		return usagef(cmd, "%v", err)
	}
	req := admin.DeskRequest{Op: op, Slug: pos[0], Journalist: pos[1]}
	return r.deskOp(f, req, func(w io.Writer, res admin.DeskResult) { human(w, pos[0], pos[1], res) })
}

func (r *runner) cmdDeskMove(args []string) error {
	const cmd = "desk move"
	f := r.newFlags(cmd, true)
	pos, err := f.parse(args, 2, `"DESIGNATION" SLUG`)
	if err != nil {
		return err
	}
	if err := slugArg(cmd, pos[1]); err != nil {
		return err
	}
	req := admin.DeskRequest{Op: "move", Slug: pos[1], Designation: pos[0]}
	return r.deskOp(f, req, func(w io.Writer, res admin.DeskResult) {
		fmt.Fprintf(w, "Source %q moved from desk %s to desk %s.\n"+
			"Its new submissions go to %s, and only %s's journalists can reply to it.\n"+
			"Its earlier submissions stay readable only by desk %s's journalists: they were\n"+
			"encrypted to their keys, and the relay holds no key to re-encrypt them.\n",
			req.Designation, res.MovedFrom, req.Slug, req.Slug, req.Slug, res.MovedFrom)
	})
}

// deskOp performs one desk request and prints its result.
func (r *runner) deskOp(f *flags, req admin.DeskRequest, human func(io.Writer, admin.DeskResult)) error {
	return perform(r, f, func(ctx context.Context, ops admin.Ops) (admin.DeskResult, error) {
		return ops.Desk(ctx, req)
	}, human)
}

// printDesks is the table of `relay desk list`.
func printDesks(w io.Writer, desks []admin.DeskInfo) {
	if len(desks) == 0 {
		fmt.Fprintln(w, "No desks.")
		return
	}
	fmt.Fprintf(w, "%-20s %-28s %-7s %-10s %7s %11s  %s\n", "SLUG", "TITLE", "HIDDEN", "RETENTION", "SOURCES", "SUBMISSIONS", "JOURNALISTS")
	for _, d := range desks {
		hidden := "no"
		if d.Hidden {
			hidden = "yes"
		}
		js := strings.Join(d.Journalists, ",")
		if js == "" {
			js = "(none: sources cannot submit)"
		}
		fmt.Fprintf(w, "%-20s %-28s %-7s %-10s %7d %11d  %s\n", d.Slug, clip(d.Title), hidden, deskRetention(d.RetentionDays), d.Sources, d.Submissions, js)
	}
}

func deskRetention(days int) string {
	switch {
	case days == store.RetentionForever:
		return "forever"
	case days > 0:
		return fmt.Sprintf("%d days", days)
	}
	return "default"
}

// printDeskStatus is the desks part of `relay status`.
func printDeskStatus(w io.Writer, desks []admin.DeskInfo) {
	for _, d := range desks {
		js := strings.Join(d.Journalists, ", ")
		if js == "" {
			js = "no journalist"
		}
		hidden := ""
		if d.Hidden {
			hidden = ", hidden"
		}
		fmt.Fprintf(w, "  desk %-12s %d sources, %d submissions, retention %s%s; %s\n", d.Slug+":", d.Sources, d.Submissions, deskRetention(d.RetentionDays), hidden, js)
	}
}

// desksExpire reports whether a desk has a retention of its own, so that a
// retention pass runs even when retention_days keeps everything.
func desksExpire(desks []admin.DeskInfo) bool {
	for _, d := range desks {
		if d.RetentionDays > 0 {
			return true
		}
	}
	return false
}

package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"postern/relay/admin"
)

func (r *runner) cmdSourceList(args []string) error {
	f := r.newFlags("source list", true)
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	return listing(r, f, admin.Ops.SourceList, "No sources.", func(w io.Writer, list []admin.SourceInfo) {
		fmt.Fprintf(w, "%-32s %-10s %-11s %8s %7s  %s\n", "DESIGNATION", "CREATED", "LAST ACTIVE", "MESSAGES", "REPLIES", "DESK")
		for _, s := range list {
			fmt.Fprintf(w, "%-32s %-10s %-11s %8d %7d  %s\n", s.Designation, s.Created, s.LastActive, s.Messages, s.Replies, s.Desk)
		}
	})
}

func (r *runner) cmdSourceDelete(args []string) error {
	f := r.newFlags("source delete", true)
	pos, err := f.parse(args, 1, `DESIGNATION (in quotes: "quixotic tangerine")`)
	if err != nil {
		return err
	}
	return perform(r, f, func(ctx context.Context, ops admin.Ops) (admin.SourceDeleted, error) {
		return ops.SourceDelete(ctx, pos[0])
	}, func(w io.Writer, res admin.SourceDeleted) {
		fmt.Fprintf(w, "Source %q deleted: %d submissions and %d replies, from every journalist's mailboxes.\n"+
			"Their files were overwritten and removed and the database was compacted.\n"+
			"Their codename no longer opens anything.\n", res.Designation, res.Messages, res.Replies)
	})
}

func (r *runner) cmdSourcePrune(args []string) error {
	const cmd = "source prune"
	f := r.newFlags(cmd, true)
	inactive := f.String("inactive", "", "delete sources inactive for at least this many days")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	if *inactive == "" {
		return usagef(cmd, "%s: --inactive DAYS is required", cmd)
	}
	days, err := strconv.Atoi(*inactive)
	if err != nil || days < 1 || days > 100_000 {
		return usagef(cmd, "%s: --inactive wants a number of days from 1 to 100000, not %q", cmd, clip(*inactive))
	}
	ops, done, err := r.ops(*f.data)
	if err != nil {
		return err
	}
	defer done()
	res, err := ops.SourcePrune(r.env.Context, days)
	if err != nil {
		return err
	}
	if *f.json {
		return r.printJSON(res)
	}
	if len(res.Deleted) == 0 {
		fmt.Fprintf(r.env.Stdout, "No source has been inactive for %d days or more.\n", days)
		return nil
	}
	fmt.Fprintf(r.env.Stdout, "Deleted %d sources inactive for %d days or more:\n", len(res.Deleted), days)
	for _, d := range res.Deleted {
		fmt.Fprintf(r.env.Stdout, "  %-32s %d submissions, %d replies\n", d.Designation, d.Messages, d.Replies)
	}
	return nil
}

func (r *runner) cmdCompact(args []string) error {
	f := r.newFlags("compact", true)
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	return perform(r, f, func(ctx context.Context, ops admin.Ops) (admin.Compacted, error) {
		return ops.Compact(ctx)
	}, func(w io.Writer, c admin.Compacted) {
		fmt.Fprintf(w, "Database compacted: %s → %s; deleted records are gone from the file.\n",
			humanBytes(c.Before), humanBytes(c.After))
	})
}

// printRetention is the retention part of `relay status`.
func printRetention(w io.Writer, st admin.Status) {
	rs := st.Retention
	if rs == nil || (rs.Days == 0 && !desksExpire(st.Desks)) {
		return
	}
	fmt.Fprintf(w, "  expiring:        %d messages, %d replies within a day; %d messages, %d replies within a week\n",
		rs.DueDay.Messages, rs.DueDay.Replies, rs.DueWeek.Messages, rs.DueWeek.Replies)
	switch {
	case rs.NextRun != "":
		fmt.Fprintf(w, "  next retention:  %s\n", rs.NextRun)
	case st.Running:
		fmt.Fprintln(w, "  next retention:  (not scheduled)")
	default:
		fmt.Fprintln(w, "  next retention:  when the relay runs (at start, then daily)")
	}
	if rs.LastRun != "" {
		fmt.Fprintf(w, "  last retention:  %s, removed %d messages, %d replies\n", rs.LastRun, rs.Removed.Messages, rs.Removed.Replies)
	}
}

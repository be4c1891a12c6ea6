// Command bench runs Postern's whole-process benchmarks: the real relay
// binary on loopback, measured from the outside (/proc, rusage, wall
// clock) side by side with the tool a newsroom would otherwise use, and
// prints one table of measured values, goals and ratios. The method is in
// docs/benchmarks.md; `make bench` runs it.
//
//	go run ./tools/bench [-only ingest,size,padding,rss,sync,logins,append,flood,conns,mailconns,readersync,open] [-profile DIR] [-sync-dovecot-compress=false] [-ingest-mib 100] [-rss-mib 2048] [-sync-n 10000] [-logins-n 10000] [-append-n 10000] [-flood-clients 200] [-flood-time 1m] [-conns 5000] [-open-n 1000]
//
// A goal missed is printed as MISSED, never tuned away.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"
)

type options struct {
	only         map[string]bool
	ingestMiB    int64
	journalists  int
	rssMiB       int64
	syncN        int
	loginsN      int
	appendN      int
	floodClients int
	floodTime    time.Duration
	conns        int
	openN        int
	keep         bool
	profileDir   string
	// dovecotZ runs (d)'s third server, Dovecot with imap_zlib: a
	// reference, not a goal, and at 10,000 messages most of the row's time.
	dovecotZ bool
}

// row is one line of the result table.
type row struct {
	name, measured, goal, verdict string
}

func main() {
	var o options
	only := flag.String("only", "ingest,size,padding,rss,sync,logins,append,flood,conns,mailconns,readersync,open", "benchmarks to run (comma separated)")
	flag.Int64Var(&o.ingestMiB, "ingest-mib", 100, "size of the file for the CPU and size comparisons, MiB")
	flag.IntVar(&o.journalists, "journalists", 2, "journalists (recipient keys) of the instance")
	flag.Int64Var(&o.rssMiB, "rss-mib", 2048, "size of the file streamed for the memory benchmark, MiB")
	flag.IntVar(&o.syncN, "sync-n", 10000, "messages in the mailbox for the mbsync comparisons (sync, readersync)")
	flag.IntVar(&o.loginsN, "logins-n", 10000, "sessions in a row for the logins comparison")
	flag.IntVar(&o.appendN, "append-n", 10000, "messages APPENDed on one connection for the APPEND comparison")
	flag.IntVar(&o.floodClients, "flood-clients", 200, "clients flooding codename creation")
	flag.DurationVar(&o.floodTime, "flood-time", time.Minute, "how long the flood lasts")
	flag.IntVar(&o.conns, "conns", 5000, "idle visitor connections for the conns benchmark")
	flag.IntVar(&o.openN, "open-n", 1000, "messages opened by the offline reader for the gpg comparison")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch directory")
	flag.BoolVar(&o.dovecotZ, "sync-dovecot-compress", true, "in (d), also sync from Dovecot with COMPRESS (imap_zlib) for reference")
	flag.StringVar(&o.profileDir, "profile", "", "also profile in-process (relay/serve.Run): the ingest path (DIR/ingest-*.pprof) and, with sync, the sync's CPU and heap (DIR/sync.pprof, DIR/sync-heap.pprof)")
	flag.Parse()
	o.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		o.only[strings.TrimSpace(s)] = true
	}
	if err := runAll(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func runAll(o options) error {
	work, err := os.MkdirTemp("", "postern-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "scratch directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	e := &env{work: work}
	if err := e.buildRelay(); err != nil {
		return err
	}
	var rows []row
	fail := func(name string, err error) {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", name, err)
		rows = append(rows, row{name, "error: " + firstLine(err.Error()), "", "ERROR"})
	}
	if o.only["ingest"] || o.only["size"] {
		progress("ingest: %d MiB text and %d MiB random through the form, and gpg", o.ingestMiB, o.ingestMiB)
		rs, err := e.benchIngest(o.ingestMiB<<20, o.journalists)
		if err != nil {
			fail("ingest", err)
		}
		for _, r := range rs {
			if o.only["ingest"] {
				ratio := r.relayCPU.Seconds() / r.gpgCPU.Seconds()
				rows = append(rows, row{
					fmt.Sprintf("(a) CPU per byte, %s, relay ÷ gpg", r.kind),
					fmt.Sprintf("%.2f (relay %.2fs CPU, %.0f MB/s wall; gpg %.2fs)", ratio, r.relayCPU.Seconds(), float64(r.size)/1e6/r.relayWall.Seconds(), r.gpgCPU.Seconds()),
					"≤ 1.00", verdict(ratio <= 1.0)})
			}
			if o.only["size"] {
				ratio := float64(r.wireBytes) / float64(r.size)
				rows = append(rows, row{
					fmt.Sprintf("(b) downloaded ÷ submitted, %s", r.kind),
					fmt.Sprintf("%.3f with COMPRESS=DEFLATE at 8 MB/s (%d of %d bytes); %.3f on unthrottled loopback; mail as stored %.3f; gpg binary %.3f",
						ratio, r.wireBytes, r.size, float64(r.fastWireBytes)/float64(r.size), float64(r.mailBytes)/float64(r.size), float64(r.gpgBytes)/float64(r.size)),
					"≤ 1.40", verdict(ratio <= 1.40)})
			}
		}
	}
	if o.only["padding"] {
		progress("padding: 1,000 realistic submissions")
		if r, err := benchPadding(o.journalists); err != nil {
			fail("(p) padding", err)
		} else {
			rows = append(rows, r)
		}
	}
	if o.profileDir != "" {
		for _, kind := range []string{"text", "random"} {
			if err := e.profileIngest(kind, o.ingestMiB<<20, o.journalists, o.profileDir); err != nil {
				fail("profile "+kind, err)
			}
		}
	}
	if o.only["rss"] {
		progress("rss: %d MiB streamed through the form", o.rssMiB)
		r, err := e.benchRSS(o.rssMiB << 20)
		if err != nil {
			fail("(c) memory", err)
		} else {
			rows = append(rows, row{
				fmt.Sprintf("(c) relay RSS above idle, %d MiB upload", o.rssMiB),
				fmt.Sprintf("%.1f MiB (idle %.1f, peak VmRSS %.1f, VmHWM %.1f; %.0f MB/s)", mib(r.peak-r.idle), mib(r.idle), mib(r.peakRSS), mib(r.hwm), float64(r.size)/1e6/r.wall.Seconds()),
				"≤ 64 MiB", verdict(r.peak-r.idle <= 64<<20)})
		}
	}
	if o.only["sync"] {
		progress("sync: mbsync of %d messages from Postern and from Dovecot", o.syncN)
		r, err := e.benchSync(o.syncN, o.profileDir, o.dovecotZ)
		if err != nil {
			fail("(d) mbsync", err)
		} else {
			ratio := r.postern.Seconds() / r.dovecot.Seconds()
			rows = append(rows, row{
				fmt.Sprintf("(d) mbsync full sync, %d messages (%.2f GB, realistic mix), Postern ÷ Dovecot", o.syncN, float64(r.bytes)/1e9),
				fmt.Sprintf("%.2f (Postern with COMPRESS %.2fs, Dovecot without %.2fs; Dovecot with COMPRESS %s)", ratio, r.postern.Seconds(), r.dovecot.Seconds(), orNone(r.dovecotZ)),
				"≤ 1.00", verdict(ratio <= 1.0)})
			cpuRatio := r.posternCPU.Seconds() / r.dovecotCPU.Seconds()
			rows = append(rows, row{
				"(d) server CPU of that sync, Postern with COMPRESS ÷ Dovecot without",
				fmt.Sprintf("%.2f (Postern %.2fs, Dovecot %.2fs; Dovecot with COMPRESS %s)", cpuRatio, r.posternCPU.Seconds(), r.dovecotCPU.Seconds(), orNone(r.dovecotZCPU)),
				"≤ 2.00", verdict(cpuRatio <= 2.0)})
			rows = append(rows, row{
				"(d) relay RSS during that mbsync sync, and after",
				fmt.Sprintf("peak %.1f MiB (VmRSS %.1f: anon %.1f, file %.1f; VmHWM %.1f), idle %.1f, after %.1f; Dovecot peak %.1f MiB (sum of its processes; anon %.1f)",
					mib(r.peak), mib(r.peakRSS.rss), mib(r.peakRSS.anon), mib(r.peakRSS.file), mib(r.hwm), mib(r.idle), mib(r.after), mib(r.dovecotPeak.rss), mib(r.dovecotPeak.anon)),
				fmt.Sprintf("peak ≤ %.0f MiB, after ≤ idle + %.0f MiB", mib(syncRSSGoal), mib(nearIdle)),
				verdict(r.peak <= syncRSSGoal && r.after <= r.idle+nearIdle)})
		}
	}
	if o.only["logins"] {
		progress("logins: %d sessions in a row (LOGIN, SELECT, FETCH, LOGOUT) on Postern and on Dovecot with ARGON2ID", o.loginsN)
		r, err := e.benchLogins(o.loginsN)
		if err != nil {
			fail("(h) logins", err)
		} else {
			per := func(d time.Duration, n int) float64 { return d.Seconds() * 1000 / float64(n) }
			ours := per(r.postern, r.n)
			argon, static := per(r.dovecot, r.dovecotN), per(r.static, r.n)
			rows = append(rows, row{
				fmt.Sprintf("(h) %d logins in a row, Postern (argon2id, login cache) ÷ Dovecot (ARGON2ID, auth cache), per session", r.n),
				fmt.Sprintf("%.3f (Postern %.2fs wall, %.2fs server CPU, %.2f ms a session; Dovecot %.1f ms a session over %d, %.2fs CPU)",
					ours/argon, r.postern.Seconds(), r.posternCPU.Seconds(), ours, argon, r.dovecotN, r.dovecotCPU.Seconds()),
				"≤ 2.00", verdict(ours <= 2*argon)})
			rows = append(rows, row{
				fmt.Sprintf("(h) the same %d, Postern ÷ Dovecot with no hashing (static passdb)", r.n),
				fmt.Sprintf("%.2f (Dovecot %.2fs wall, %.2fs CPU of its processes, %.2f ms a session)",
					ours/static, r.static.Seconds(), r.staticCPU.Seconds(), static),
				"≤ 2.00", verdict(ours <= 2*static)})
		}
	}
	if o.only["append"] {
		progress("append: %d APPENDs of the realistic mix on one connection, Postern and Dovecot", o.appendN)
		r, err := e.benchAppend(o.appendN)
		if err != nil {
			fail("(i) APPEND", err)
		} else {
			ours, theirs := float64(r.n)/r.postern.Seconds(), float64(r.n)/r.dovecot.Seconds()
			rows = append(rows, row{
				fmt.Sprintf("(i) APPEND of %d messages (%.2f GB, realistic mix), one connection, Postern ÷ Dovecot msg/s", r.n, float64(r.bytes)/1e9),
				fmt.Sprintf("%.2f (Postern %.1f msg/s, %.2fs server CPU; Dovecot %.1f msg/s, %.2fs CPU)",
					ours/theirs, ours, r.posternCPU.Seconds(), theirs, r.dovecotCPU.Seconds()),
				"≥ 1.00", verdict(ours >= theirs)})
		}
	}
	if o.only["flood"] {
		progress("flood: %d clients creating codenames for %s, one source submitting", o.floodClients, o.floodTime)
		r, err := e.benchFlood(o.floodClients, o.floodTime)
		if err != nil {
			fail("(e) flood", err)
		} else {
			rows = append(rows, row{
				fmt.Sprintf("(e) submission latency under a %d-client codename flood", o.floodClients),
				fmt.Sprintf("p99 %.2fs, p50 %.2fs, max %.2fs over %d submissions (%d failed); relay peak RSS %.0f MiB; flood: %d codenames, %d busy pages, %d errors",
					r.p99.Seconds(), r.p50.Seconds(), r.max.Seconds(), r.n, r.failed, mib(r.peakRSS), r.codenames, r.busy, r.floodErrs),
				"p99 < 3 s, RSS < 512 MiB", verdict(r.p99 < 3*time.Second && r.peakRSS < 512<<20 && r.failed == 0)})
		}
	}
	if o.only["conns"] {
		progress("conns: %d visitors who stay connected", o.conns)
		r, err := e.benchConns(o.conns)
		if err != nil {
			fail("(f) idle connections", err)
		} else {
			rows = append(rows, row{
				fmt.Sprintf("(f) relay RSS with %d idle visitor connections", o.conns),
				fmt.Sprintf("%.0f MiB (idle %.0f MiB; %d connected, %d refused or failed)", mib(r.peak), mib(r.idle), r.opened, r.refused),
				"(none; (e)'s budget: < 512 MiB)", verdict(r.peak < 512<<20)})
		}
	}
	if o.only["mailconns"] {
		progress("mailconns: journalists' IMAP and SMTP connections at the default caps")
		r, err := e.benchMailConns()
		if err != nil {
			fail("(g) journalists' connections", err)
		}
		for _, ph := range r.phases {
			rows = append(rows, row{
				fmt.Sprintf("(g) %d × %s", ph.n, ph.what),
				fmt.Sprintf("%.0f KiB each; relay RSS %.0f MiB (idle %.0f MiB)", float64(ph.per)/1024, mib(ph.rss), mib(r.idle)),
				"(none; (e)'s budget: < 512 MiB)", verdict(ph.rss < 512<<20)})
		}
	}
	if o.only["readersync"] {
		progress("readersync: relay reader sync and mbsync of %d messages from the same relay", o.syncN)
		r, err := e.benchReaderSync(o.syncN)
		if err != nil {
			fail("(j) reader sync", err)
		} else {
			ratio := r.reader.Seconds() / r.mbsync.Seconds()
			rows = append(rows, row{
				fmt.Sprintf("(j) relay reader sync --direct, %d messages (%.2f GB, realistic mix), wall time ÷ mbsync's from the same relay", o.syncN, float64(r.bytes)/1e9),
				fmt.Sprintf("%.2f (reader %.2fs, %.2fs of its own CPU; mbsync %.2fs)", ratio, r.reader.Seconds(), r.readerCPU.Seconds(), r.mbsync.Seconds()),
				"≤ 1.00", verdict(ratio <= 1.0)})
		}
	}
	if o.only["open"] {
		progress("open: the offline reader and gpg decrypting %d messages of the realistic mix", o.openN)
		rows = append(rows, openRow(e, o.openN, fail)...)
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tmeasured\tgoal\tverdict")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.measured, r.goal, r.verdict)
	}
	return tw.Flush()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// orNone formats d in seconds, or "not run" for zero.
func orNone(d time.Duration) string {
	if d == 0 {
		return "not run"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// need returns the path of tool or an error naming it.
func need(tool string) (string, error) {
	p, err := exec.LookPath(tool)
	if err != nil {
		return "", fmt.Errorf("%s is not installed", tool)
	}
	return p, nil
}

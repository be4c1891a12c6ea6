// Package sandbox makes cleaned copies of untrusted files with Debian's mat2,
// run inside bubblewrap: no network (every namespace unshared), no view of
// the file system but /usr and the one file (bound read-only) and an empty
// work folder, a size-capped /tmp, and resource limits (address space, file
// size, CPU time) set with prlimit, under a wall-clock timeout. A parser bug
// in a metadata library, or a zip bomb, then costs at most those limits.
package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options bound one run of mat2. Zero values take the defaults.
type Options struct {
	Timeout  time.Duration // wall clock (default 2 minutes)
	Memory   int64         // address space of the sandbox, bytes (default 2 GiB)
	FileSize int64         // largest file it may write, bytes (default 2 GiB)
	Tmp      int64         // size of its /tmp (default 512 MiB)
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Memory <= 0 {
		o.Memory = 2 << 30
	}
	if o.FileSize <= 0 {
		o.FileSize = 2 << 30
	}
	if o.Tmp <= 0 {
		o.Tmp = 512 << 20
	}
	return o
}

// Outcome of one file.
type Outcome struct {
	Cleaned bool
	Why     string // when not cleaned: "unsupported type", "mat2 failed: …", "timed out after …", …
}

// Tools reports what is missing to clean files ("" when nothing is).
func Tools() string {
	var missing []string
	for _, t := range []string{"mat2", "bwrap", "prlimit"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return strings.Join(missing, ", ") + " not installed"
}

// Clean makes a cleaned copy of src at dst. src is never changed (the
// sandbox sees it read-only); dst is written only when mat2 succeeded. work
// is an empty folder the caller owns, for mat2's output; Clean empties it.
func Clean(ctx context.Context, o Options, src, dst, work string) Outcome {
	o = o.withDefaults()
	if missing := Tools(); missing != "" {
		return Outcome{Why: missing}
	}
	defer clearDir(work)
	ext := extension(src)
	inside := "/w/input" + ext
	args := []string{
		"--as=" + strconv.FormatInt(o.Memory, 10),
		"--fsize=" + strconv.FormatInt(o.FileSize, 10),
		"--cpu=" + strconv.Itoa(int(o.Timeout/time.Second)+1),
		"--nofile=256", "--core=0",
		"bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
		"--clearenv", "--setenv", "PATH", "/usr/bin", "--setenv", "LANG", "C.UTF-8", "--setenv", "HOME", "/w",
		"--ro-bind", "/usr", "/usr",
		"--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
		"--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
		// mat2 tells a file's type by its extension, from this table.
		"--ro-bind-try", "/etc/mime.types", "/etc/mime.types",
		"--proc", "/proc", "--dev", "/dev",
		"--size", strconv.FormatInt(o.Tmp, 10), "--tmpfs", "/tmp",
		"--bind", work, "/w", "--ro-bind", src, inside, "--chdir", "/w",
		"mat2", inside,
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "prlimit", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Outcome{Why: fmt.Sprintf("timed out after %s", o.Timeout)}
	case strings.Contains(out.String(), "is not supported"):
		return Outcome{Why: "unsupported type"}
	case err != nil:
		return Outcome{Why: "mat2 failed: " + lastLine(out.String(), err)}
	}
	cleaned := filepath.Join(work, "input.cleaned"+ext)
	if _, err := os.Stat(cleaned); err != nil {
		return Outcome{Why: "mat2 failed: it wrote no cleaned copy"}
	}
	if err := os.Rename(cleaned, dst); err != nil {
		return Outcome{Why: "cannot save the cleaned copy: " + err.Error()}
	}
	return Outcome{Cleaned: true}
}

// extension keeps a plain extension (mat2 goes by it), lowercased.
func extension(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	if len(ext) < 2 || len(ext) > 12 {
		return ""
	}
	for _, r := range ext[1:] {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return ""
		}
	}
	return ext
}

// lastLine is mat2's last line of output (its error, after any traceback),
// or the exit status.
func lastLine(out string, err error) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[i]), "[-]"))
		if l != "" {
			if len(l) > 160 {
				l = l[:160] + "…"
			}
			return l
		}
	}
	return err.Error()
}

func clearDir(dir string) {
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		os.RemoveAll(filepath.Join(dir, de.Name()))
	}
}

package trace

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iotrace/iotrace/internal/model"
	"github.com/iotrace/iotrace/internal/testutils"
)

var formats = []Format{JSON, JSONL, Chrome}

// writeRun records the sample run into a sink on path and returns Close's
// error.
func writeRun(t *testing.T, path string, f Format) error {
	t.Helper()
	final, ivs, evs := run()
	s, err := Create(path, f, Options{})
	if err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	if b, ok := s.(Beginner); ok {
		b.Begin(final.Meta)
	}
	for _, iv := range ivs {
		s.Interval(iv)
	}
	for _, e := range evs {
		s.Event(e)
	}
	return s.Close(final)
}

// feed starts a run on path and records its first interval and n events
// (the sample run's, in turn, each a microsecond later, arg k).
func feed(t *testing.T, path string, f Format, n int) (Sink, *model.Snapshot, []model.Interval) {
	t.Helper()
	final, ivs, evs := run()
	s, err := Create(path, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := s.(Beginner); ok {
		b.Begin(final.Meta)
	}
	s.Interval(ivs[0])
	for k := 0; k < n; k++ {
		e := evs[k%len(evs)]
		e.Time, e.Arg = e.Time.Add(time.Duration(k)*time.Microsecond), k
		s.Event(e)
	}
	return s, final, ivs
}

// mknod makes a character device node in the test's own directory.
func mknod(t *testing.T, path string, major, minor uint32) {
	t.Helper()
	testutils.RequireRoot(t)
	if err := unix.Mknod(path, unix.S_IFCHR|0o666, int(unix.Mkdev(major, minor))); err != nil {
		t.Fatalf("mknod %s: %v", path, err)
	}
}

// checkCharDevice fails unless path is still the character device
// major:minor, and nothing else is in its directory.
func checkCharDevice(t *testing.T, path string, major, minor uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != major || unix.Minor(st.Rdev) != minor {
		t.Fatalf("%s is no longer the character device %d:%d (mode %o)", path, major, minor, st.Mode)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("files left beside the device: %v", ents)
	}
}

// TestOutputCharDevice: -o onto a device writes through it; neither
// closing nor aborting replaces or removes the node.
func TestOutputCharDevice(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			null := filepath.Join(t.TempDir(), "null")
			mknod(t, null, 1, 3)
			if err := writeRun(t, null, f); err != nil {
				t.Errorf("writing onto a null device: %v", err)
			}
			checkCharDevice(t, null, 1, 3)
			s, err := Create(null, f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if b, ok := s.(Beginner); ok {
				b.Begin(model.Meta{})
			}
			s.Abort()
			checkCharDevice(t, null, 1, 3)
		})
	}
}

// TestOutputFullDevice: a write error (a /dev/full node) is returned as
// one line naming the file and the cause; the node is left alone.
func TestOutputFullDevice(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			full := filepath.Join(t.TempDir(), "full")
			mknod(t, full, 1, 7)
			err := writeRun(t, full, f)
			if err == nil || !strings.Contains(err.Error(), "no space left on device") || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line with ENOSPC", err)
			}
			var we *WriteError
			if !errors.As(err, &we) || we.Kept != 0 {
				t.Errorf("err = %#v, want a WriteError keeping 0 bytes", err)
			}
			checkCharDevice(t, full, 1, 7)
		})
	}
}

// TestOutputFIFO: a FIFO is written through to its reader, and stays a
// FIFO.
func TestOutputFIFO(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := unix.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			got := make(chan []byte, 1)
			go func() {
				r, err := os.Open(fifo)
				if err != nil {
					got <- nil
					return
				}
				b, _ := io.ReadAll(r)
				r.Close()
				got <- b
			}()
			done := make(chan error, 1)
			go func() { done <- writeRun(t, fifo, f) }()
			var b []byte
			select {
			case b = <-got:
			case <-time.After(20 * time.Second):
				t.Fatal("the FIFO's reader got nothing in 20 s (the FIFO was replaced?)")
			}
			if err := <-done; err != nil {
				t.Fatalf("writing into a FIFO: %v", err)
			}
			rec, err := Read(bytes.NewReader(b))
			if err != nil || len(rec.Events) != 3 || rec.Truncated {
				t.Fatalf("what the reader got does not read back: %v", err)
			}
			if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
				t.Fatalf("%s is no longer a FIFO: %v %v", fifo, fi.Mode(), err)
			}
		})
	}
}

// TestOutputSymlink: a link keeps pointing where it did, and the trace
// goes to its target: an existing file, a name that does not exist yet, and
// through a chain of relative links.
func TestOutputSymlink(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			os.Mkdir(filepath.Join(dir, "sub"), 0o755)
			real := filepath.Join(dir, "sub", "real")
			os.WriteFile(real, []byte("old"), 0o644)
			links := map[string]string{ // link -> what it points to
				"link":     "sub/real",
				"chain":    "link",
				"dangling": "sub/new",
			}
			for l, to := range links {
				if err := os.Symlink(to, filepath.Join(dir, l)); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct{ link, target string }{{"link", real}, {"chain", real}, {"dangling", filepath.Join(dir, "sub", "new")}} {
				p := filepath.Join(dir, c.link)
				if err := writeRun(t, p, f); err != nil {
					t.Fatalf("%s: %v", c.link, err)
				}
				if to, err := os.Readlink(p); err != nil || to != links[c.link] {
					t.Fatalf("%s is no longer a link to %s: %q %v", c.link, links[c.link], to, err)
				}
				rec, err := ReadFile(c.target)
				if err != nil || len(rec.Events) != 3 {
					t.Fatalf("%s: the link's target %s does not hold the trace: %v", c.link, c.target, err)
				}
				os.WriteFile(real, []byte("old"), 0o644)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*", ".*tmp*")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// TestOutputMode: a new trace file gets 0666 less the umask, as files of
// other tools do; a replaced file keeps its mode.
func TestOutputMode(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			for _, umask := range []int{0o022, 0o027, 0} {
				old := syscall.Umask(umask)
				p := filepath.Join(dir, "new")
				err := writeRun(t, p, f)
				syscall.Umask(old)
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(p)
				if want := fs.FileMode(0o666 &^ umask); err != nil || fi.Mode().Perm() != want {
					t.Fatalf("umask %03o: mode %v, want %v (%v)", umask, fi.Mode().Perm(), want, err)
				}
				os.Remove(p)
			}
			p := filepath.Join(dir, "existing")
			os.WriteFile(p, []byte("old"), 0o600)
			os.Chmod(p, 0o640)
			if err := writeRun(t, p, f); err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
				t.Fatalf("replaced file's mode %v, want 0640", fi.Mode().Perm())
			}
		})
	}
}

// TestAbortKeepsExisting: a run that fails to start leaves a file that was
// there as it was, in every format.
func TestAbortKeepsExisting(t *testing.T) {
	for _, f := range formats {
		p := filepath.Join(t.TempDir(), "t")
		os.WriteFile(p, []byte("previous run"), 0o644)
		s, err := Create(p, f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Abort()
		if b, err := os.ReadFile(p); err != nil || string(b) != "previous run" {
			t.Fatalf("%s: abort changed the existing file: %q %v", f, b, err)
		}
		if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
			t.Fatalf("%s: abort left %v", f, ents)
		}
	}
}

// TestAbortKeepsStartedJSONL: a JSON Lines trace whose run has started
// holds that run; a failure after the start keeps it.
func TestAbortKeepsStartedJSONL(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.jsonl")
	final, ivs, _ := run()
	s, err := Create(p, JSONL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.(Beginner).Begin(final.Meta)
	s.Interval(ivs[0])
	s.Abort()
	rec, err := ReadFile(p)
	if err != nil || len(rec.Intervals) != 1 || !rec.Truncated {
		t.Fatalf("started jsonl after abort: %v", err)
	}
}

// TestFullDisk: a file system that fills up mid-run (a 64 KiB tmpfs) keeps
// what was written under the trace's name, and says how much in one line.
func TestFullDisk(t *testing.T) {
	testutils.RequireRoot(t)
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
				t.Fatalf("mounting a small tmpfs: %v", err)
			}
			defer unix.Unmount(dir, unix.MNT_DETACH)
			p := filepath.Join(dir, "t")
			s, final, ivs := feed(t, p, f, 100_000) // about 30 MB of events
			s.Interval(ivs[1])
			err := s.Close(final)
			var we *WriteError
			if !errors.As(err, &we) || !errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line: a WriteError with ENOSPC", err)
			}
			fi, serr := os.Stat(p)
			// (A Chrome trace's spill file, beside it, takes its share.)
			if serr != nil || fi.Size() != we.Kept || (f != Chrome && we.Kept < 32<<10) {
				t.Fatalf("the file keeps %v bytes (%v), the error says %d", fi.Size(), serr, we.Kept)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("the error does not name the file: %v", err)
			}
			if f == JSONL {
				rec, err := ReadFile(p)
				if err != nil || !rec.Truncated || len(rec.Intervals) != 1 || len(rec.Events) == 0 {
					t.Fatalf("the kept jsonl does not read back as truncated: %v", err)
				}
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Fatalf("files left: %v", ents)
			}
		})
	}
}

// TestStdout: "-" writes the trace to standard output.
func TestStdout(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout := os.Stdout
			os.Stdout = w
			got := make(chan []byte)
			go func() { b, _ := io.ReadAll(r); got <- b }()
			err = writeRun(t, Stdout, f)
			os.Stdout = stdout
			w.Close()
			b := <-got
			if err != nil {
				t.Fatal(err)
			}
			if rec, err := Read(bytes.NewReader(b)); err != nil || len(rec.Events) != 3 {
				t.Fatalf("standard output does not hold the trace: %v", err)
			}
			if _, err := os.Stat(Stdout); err == nil {
				t.Fatal(`a file named "-" was written`)
			}
		})
	}
}

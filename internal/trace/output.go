package trace

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Stdout is the -o name that writes the trace to standard output.
const Stdout = "-"

// output is the file a trace goes to. A regular file (or a name that does
// not exist yet) is written as a temporary file beside it, created with the
// usual mode (0666 less the umask, or the replaced file's mode), and renamed
// over it by publish: the name holds either what it held before or this
// run. Anything else (a character device, a FIFO, standard output) is
// written through, in place. Symbolic links are resolved first, so a link
// keeps pointing where it did and its target gets the trace.
//
// iotrace never removes a file it did not create: abort removes only the
// temporary file.
type output struct {
	name   string   // as the user gave it, for messages
	target string   // name with its symbolic links resolved
	f      *os.File // a temporary file beside target, or target itself
	tmp    string   // the temporary file until publish; "" once published or when writing through
	stdout bool
	n      int64 // bytes written
	err    error // the first write error; nothing more is written after it
}

func openOutput(name string) (*output, error) {
	if name == Stdout {
		return &output{name: "standard output", target: name, f: os.Stdout, stdout: true}, nil
	}
	target, err := resolveLinks(name)
	if err != nil {
		return nil, fmt.Errorf("cannot write output %s: %v", name, err)
	}
	o := &output{name: name, target: target}
	fi, err := os.Stat(target)
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("cannot write output %s: %v", name, pathErr(err))
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("cannot write output %s: it is a directory", name)
	case err == nil && !fi.Mode().IsRegular():
		// A device, a FIFO (this waits for its reader, as a shell's
		// redirection does): write through, never replace it.
		if o.f, err = os.OpenFile(target, os.O_WRONLY, 0); err != nil {
			return nil, fmt.Errorf("cannot write output %s: %v", name, pathErr(err))
		}
		return o, nil
	}
	perm := fs.FileMode(0o666) // less the umask
	if err == nil {
		perm = fi.Mode().Perm()
	}
	if o.f, o.tmp, err = createTemp(target, perm, err == nil); err != nil {
		if !errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("cannot write output %s: %v", name, pathErr(err))
		}
		// No room for a temporary file in a directory we may not write,
		// but the file itself may be writable: write it in place.
		f, ferr := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
		if ferr != nil {
			return nil, fmt.Errorf("cannot write output %s: %v", name, pathErr(ferr))
		}
		o.f, o.tmp = f, ""
	}
	return o, nil
}

// createTemp creates an empty file beside target, named after it. The
// kernel applies the umask to perm; a replaced file's mode is copied as is.
func createTemp(target string, perm fs.FileMode, exact bool) (*os.File, string, error) {
	dir, base := filepath.Split(target)
	for try := 0; ; try++ {
		name := dir + "." + base + ".tmp-" + strconv.FormatUint(rand.Uint64()%1e10, 10)
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if exact {
			if err := f.Chmod(perm); err != nil {
				f.Close()
				os.Remove(name)
				return nil, "", err
			}
		}
		return f, name, nil
	}
}

// resolveLinks follows name's symbolic links, if it is one, to the name
// they end at, which may not exist yet (a dangling link: the trace creates
// its target). A relative link is relative to the link's directory, which
// the kernel resolves, so it is joined without lexical cleaning.
func resolveLinks(name string) (string, error) {
	for hops := 0; hops < 40; hops++ {
		fi, err := os.Lstat(name)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return name, nil
		}
		dest, err := os.Readlink(name)
		if err != nil {
			return "", pathErr(err)
		}
		if !filepath.IsAbs(dest) {
			dir := ""
			if i := strings.LastIndexByte(name, '/'); i >= 0 {
				dir = name[:i+1]
			}
			dest = dir + dest
		}
		name = dest
	}
	return "", syscall.ELOOP
}

// Write writes to the file until the first error, counting the bytes.
func (o *output) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.f.Write(p)
	o.n += int64(n)
	if err != nil {
		o.err = err
	}
	return n, err
}

// publish renames the temporary file over the target, once; the file stays
// open for more writes.
func (o *output) publish() error {
	if o.tmp == "" {
		return nil
	}
	if err := os.Rename(o.tmp, o.target); err != nil {
		return err
	}
	o.tmp = ""
	return nil
}

// finish makes what was written durable, closes the file and publishes it,
// also after a write error: what was written is kept. The error says how
// much the file holds.
func (o *output) finish() error {
	err := o.err
	if o.stdout {
		return o.failed(err)
	}
	if fi, serr := o.f.Stat(); err == nil && serr == nil && fi.Mode().IsRegular() {
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if perr := o.publish(); err == nil {
		err = perr
	}
	return o.failed(err)
}

func (o *output) failed(err error) error {
	if err == nil {
		return nil
	}
	return &WriteError{Name: o.name, Kept: o.n, Err: pathErr(err)}
}

// abort closes the file and removes the temporary file, if there still is
// one; a file iotrace did not create is never removed.
func (o *output) abort() {
	if !o.stdout {
		o.f.Close()
	}
	if o.tmp != "" {
		os.Remove(o.tmp)
		o.tmp = ""
	}
}

// WriteError is a trace file that could not be written in full.
type WriteError struct {
	Name string
	Kept int64 // bytes written before the error, kept in the file
	Err  error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("writing %s failed: %v; the file keeps the %d bytes written before the error", e.Name, e.Err, e.Kept)
}

func (e *WriteError) Unwrap() error { return e.Err }

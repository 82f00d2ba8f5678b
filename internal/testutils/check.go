package testutils

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// WaitForFile waits until path exists, polling every 20 ms. It fails the
// test after timeout, or as soon as proc (which is to create the file) has
// exited, showing proc's stderr.
func WaitForFile(t testing.TB, path string, timeout time.Duration, proc *exec.Cmd, stderr fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if proc.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not created within %s; stderr: %s", path, timeout, stderr.String())
}

// CheckSVG fails the test unless b is well-formed XML with an <svg> root.
func CheckSVG(t testing.TB, b []byte) {
	t.Helper()
	if err := wellFormedSVG(b); err != nil {
		t.Fatal(err)
	}
}

func wellFormedSVG(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		return fmt.Errorf("root element %q, want svg", root)
	}
	return nil
}

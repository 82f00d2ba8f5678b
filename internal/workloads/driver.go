package workloads

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// The driver's pacing.
const (
	idleSleep = 10 * time.Millisecond // with no active connection
	maxBatch  = 64                    // messages between looks at Stop and Reconfigure
)

var errStopped = errors.New("stopped")

// drive is the driver thread. It writes messages round-robin to the
// active window of connections, paced to the rate, until the workload ends
// or it has sent cfg.Messages. It makes no multiplexing calls: a write to
// a full connection blocks for at most sendTimeout, then is retried.
func (w *Workload) drive() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	msg := make([]byte, w.cfg.Size)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	var (
		n       = len(w.conns)
		cur     *load
		sent    int64     // messages sent in all
		epoch   time.Time // when pacing at cur.rate started
		paced   int64     // messages sent since epoch
		rotated time.Time // when the window last moved
		window  int       // the first active connection
		next    int       // the next one to write to, counted from window
	)
	for !w.stopping() {
		if w.cfg.Messages > 0 && sent >= w.cfg.Messages {
			return nil
		}
		now := time.Now()
		if ld := w.load.Load(); ld != cur {
			cur, epoch, paced, rotated = ld, now, 0, now
			next = 0
		}
		if cur.active == 0 {
			time.Sleep(idleSleep)
			continue
		}
		if cur.rotate > 0 && now.Sub(rotated) >= cur.rotate {
			window = (window + cur.active) % n
			rotated = now
		}

		batch := int64(maxBatch)
		if cur.rate > 0 {
			// The first message goes at epoch, then one every 1/rate.
			due := int64(now.Sub(epoch).Seconds()*cur.rate) + 1 - paced
			if due <= 0 {
				wake := epoch.Add(time.Duration(float64(paced) / cur.rate * float64(time.Second)))
				time.Sleep(min(wake.Sub(now), waitTimeout))
				continue
			}
			if float64(due) > cur.rate+1 {
				// Over a second behind (the server is slower than the
				// rate): go on from now rather than burst to catch up.
				epoch, paced, due = now, 0, 1
			}
			batch = min(batch, due)
		}
		if w.cfg.Messages > 0 {
			batch = min(batch, w.cfg.Messages-sent)
		}
		for ; batch > 0; batch-- {
			c := w.conns[(window+next)%n]
			next = (next + 1) % cur.active
			if err := w.write(c.driver, msg); err != nil {
				if err == errStopped {
					return nil
				}
				return err
			}
			sent++
			paced++
		}
	}
	return nil
}

// write writes all of msg to fd, unless the workload ends meanwhile.
func (w *Workload) write(fd int, msg []byte) error {
	for len(msg) > 0 {
		n, err := unix.Write(fd, msg)
		if n > 0 {
			msg = msg[n:]
			w.written.Add(int64(n))
		}
		switch err {
		case nil, unix.EINTR:
		case unix.EAGAIN: // blocked for sendTimeout
			if w.stopping() {
				return errStopped
			}
		default:
			return fmt.Errorf("driver write to fd %d: %w", fd, err)
		}
	}
	return nil
}

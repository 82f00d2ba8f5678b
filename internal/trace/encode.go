package trace

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/iotrace/iotrace/internal/model"
)

// appendEvent appends the compact JSON of e, byte for byte what
// json.Marshal writes (the tests check it), without reflection: an event
// costs about a tenth, which keeps --events draining at the ring buffer's
// rate while the file is written during the run.
func appendEvent(b []byte, e *model.CallEvent) []byte {
	var enc eventEncoder
	return enc.append(b, e)
}

// eventEncoder is appendEvent with a cache of the formatted second, which
// the calls of a run share: formatting the time was half the cost.
type eventEncoder struct {
	sec            int64
	loc            *time.Location
	prefix, suffix []byte // "2006-01-02T15:04:05" and "Z07:00" of sec
}

func (enc *eventEncoder) append(b []byte, e *model.CallEvent) []byte {
	if e.Syscall < 0 || e.Syscall >= model.NumSyscalls {
		// Not from the collector; json.Marshal says what is wrong with it.
		j, err := json.Marshal(e)
		if err != nil {
			j, _ = json.Marshal(err.Error())
		}
		return append(b, j...)
	}
	b = append(b, `{"time":`...)
	b = enc.appendTime(b, e.Time)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(e.Pid), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendInt(b, int64(e.Tid), 10)
	b = append(b, `,"syscall":"`...)
	b = append(b, e.Syscall.String()...)
	b = append(b, `","duration_ns":`...)
	b = strconv.AppendUint(b, e.DurationNs, 10)
	b = append(b, `,"ret":`...)
	b = strconv.AppendInt(b, e.Ret, 10)
	b = append(b, `,"arg":`...)
	b = strconv.AppendInt(b, int64(e.Arg), 10)
	if e.Epfd != nil {
		b = append(b, `,"epfd":`...)
		b = strconv.AppendInt(b, int64(*e.Epfd), 10)
	}
	b = append(b, `,"fds_watched":`...)
	if e.FdsWatched != nil {
		b = strconv.AppendUint(b, *e.FdsWatched, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"fd_polls":`...)
	b = strconv.AppendUint(b, e.FdPolls, 10)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendUint(b, e.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendUint(b, e.BytesOut, 10)
	b = append(b, `,"sleeps":`...)
	b = strconv.AppendUint(b, uint64(e.Sleeps), 10)
	b = append(b, `,"wakeups":`...)
	b = strconv.AppendUint(b, uint64(e.Wakeups), 10)
	b = append(b, `,"blocked_ns":`...)
	b = strconv.AppendUint(b, e.BlockedNs, 10)
	if e.LastWakeup != nil {
		b = append(b, `,"last_wakeup":`...)
		b = enc.appendTime(b, *e.LastWakeup)
	}
	if e.ReadyListAtEntry != nil {
		b = append(b, `,"ready_list_at_entry":`...)
		b = strconv.AppendInt(b, int64(*e.ReadyListAtEntry), 10)
	}
	if e.ReadyListAtExit != nil {
		b = append(b, `,"ready_list_at_exit":`...)
		b = strconv.AppendInt(b, int64(*e.ReadyListAtExit), 10)
	}
	return append(b, '}')
}

// appendTime writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros trimmed, quoted), for the years it accepts.
func (enc *eventEncoder) appendTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		j, err := json.Marshal(t)
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, j...)
	}
	if sec := t.Unix(); sec != enc.sec || t.Location() != enc.loc || enc.prefix == nil {
		enc.sec, enc.loc = sec, t.Location()
		enc.prefix = t.AppendFormat(enc.prefix[:0], "2006-01-02T15:04:05")
		enc.suffix = t.AppendFormat(enc.suffix[:0], "Z07:00")
	}
	b = append(b, '"')
	b = append(b, enc.prefix...)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	b = append(b, enc.suffix...)
	return append(b, '"')
}

package workloads

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Run runs one workload in the foreground, as the workload command does:
// it starts cfg, writes its Stats to out as one JSON line right after the
// start and every cfg.StatsInterval (if set), and ends it when ctx is done
// (SIGINT or SIGTERM in the command), after cfg.Duration or cfg.Messages,
// or on an error. It always writes the final Result as the last line once
// the workload has started, and returns it.
func Run(ctx context.Context, cfg Config, out io.Writer) (Result, error) {
	w, err := Start(cfg)
	if err != nil {
		return Result{}, err
	}
	var tick <-chan time.Time
	if cfg.StatsInterval > 0 {
		t := time.NewTicker(cfg.StatsInterval)
		defer t.Stop()
		tick = t.C
		if err := writeLine(out, w.Stats()); err != nil {
			w.Stop()
			return Result{}, err
		}
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-w.Done():
			done = true
		case <-tick:
			// A reader that went away is no reason to stop.
			_ = writeLine(out, w.Stats())
		}
	}
	res, err := w.Stop()
	if werr := writeLine(out, res); err == nil {
		err = werr
	}
	return res, err
}

// writeLine writes r as one JSON line in a single write.
func writeLine(out io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = out.Write(append(b, '\n'))
	return err
}

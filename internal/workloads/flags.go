package workloads

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/pflag"
)

// BindFlags defines the workload command's flags on fs, with c's values
// as defaults, storing into c.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&c.FDs, "fds", c.FDs, "hold `N` connections")
	fs.IntVar(&c.Active, "active", c.Active, "send to `K` of them (0: none, an idle server)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "send `R` messages per second in all (0: as fast as possible)")
	fs.IntVar(&c.Size, "size", c.Size, "`BYTES` per message")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "stop after `D` (0: until interrupted)")
	fs.BoolVar(&c.TCP, "tcp", c.TCP, "use loopback TCP connections instead of socketpairs")
	fs.DurationVar(&c.Rotate, "rotate", c.Rotate, "every `D`, move the active window on by K connections (0: never)")
	fs.Int64Var(&c.Messages, "messages", c.Messages, "send exactly `M` messages, then stop once all are read (0: no limit)")
	fs.DurationVar(&c.StatsInterval, "stats-interval", c.StatsInterval, "also print the figures so far as a JSON line at the start and every `D` (0: only at the end)")
}

// Args returns the workload command's arguments for c: the model, then
// flags (ParseArgs(c.Args()) gives back c).
func (c Config) Args() []string {
	args := []string{
		string(c.Model),
		"--fds=" + strconv.Itoa(c.FDs),
		"--active=" + strconv.Itoa(c.Active),
		"--rate=" + strconv.FormatFloat(c.Rate, 'g', -1, 64),
		"--size=" + strconv.Itoa(c.Size),
	}
	if c.TCP {
		args = append(args, "--tcp")
	}
	if c.Rotate > 0 {
		args = append(args, "--rotate="+c.Rotate.String())
	}
	if c.Messages > 0 {
		args = append(args, "--messages="+strconv.FormatInt(c.Messages, 10))
	}
	if c.Duration > 0 {
		args = append(args, "--duration="+c.Duration.String())
	}
	if c.StatsInterval > 0 {
		args = append(args, "--stats-interval="+c.StatsInterval.String())
	}
	return args
}

// ParseArgs parses "MODEL [flags]" as the workload command does, over
// DefaultConfig, and validates the result.
func ParseArgs(args []string) (Config, error) {
	c := DefaultConfig()
	fs := pflag.NewFlagSet("workload", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 1 {
		return c, fmt.Errorf("want one MODEL argument, got %d", fs.NArg())
	}
	m, err := ParseModel(fs.Arg(0))
	if err != nil {
		return c, err
	}
	c.Model = m
	return c, c.Validate()
}

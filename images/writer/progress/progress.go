// Package progress counts what the writer's stages did and shows it: a
// live one-line bar on a terminal, one JSON (or text) log line per interval
// otherwise, and a final summary with bytes and seconds per stage.
package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stage is one step of the pipeline.
type Stage int

const (
	Fetch Stage = iota
	Decode
	Write
	Zero
	nStages
)

var stageNames = [nStages]string{"fetch", "decode", "write", "zero"}

func (s Stage) String() string { return stageNames[s] }

// Counters is safe for concurrent use by every stage goroutine.
type Counters struct {
	Total  int64 // image size, for percent and ETA
	bytes  [nStages]atomic.Int64
	busy   [nStages]atomic.Int64 // nanoseconds summed over goroutines
	start  time.Time
	mu     sync.Mutex
	finish time.Time
}

// New starts the clock for an image of total bytes.
func New(total int64) *Counters { return &Counters{Total: total, start: time.Now()} }

// Add records n bytes done by stage s in d of one goroutine's time.
func (c *Counters) Add(s Stage, n int64, d time.Duration) {
	c.bytes[s].Add(n)
	c.busy[s].Add(int64(d))
}

// Bytes returns the bytes stage s handled.
func (c *Counters) Bytes(s Stage) int64 { return c.bytes[s].Load() }

// Reset zeroes the counters for a restart from scratch.
func (c *Counters) Reset() {
	for i := range c.bytes {
		c.bytes[i].Store(0)
		c.busy[i].Store(0)
	}
}

// done is the image bytes settled on the target.
func (c *Counters) done() int64 { return c.bytes[Write].Load() + c.bytes[Zero].Load() }

// Summary is the final account of a run.
type Summary struct {
	Fetched, Decoded, Written, Zeroed int64
	// Seconds per stage: time spent in the stage summed over its goroutines
	// (so it can exceed Wall when a stage runs in parallel).
	FetchSec, DecodeSec, WriteSec, ZeroSec float64
	Wall                                   float64
}

// Finish stops the clock and returns the summary.
func (c *Counters) Finish() Summary {
	c.mu.Lock()
	if c.finish.IsZero() {
		c.finish = time.Now()
	}
	wall := c.finish.Sub(c.start).Seconds()
	c.mu.Unlock()
	sec := func(s Stage) float64 { return time.Duration(c.busy[s].Load()).Seconds() }
	return Summary{
		Fetched: c.Bytes(Fetch), Decoded: c.Bytes(Decode), Written: c.Bytes(Write), Zeroed: c.Bytes(Zero),
		FetchSec: sec(Fetch), DecodeSec: sec(Decode), WriteSec: sec(Write), ZeroSec: sec(Zero), Wall: wall,
	}
}

// LogValue lets slog print the summary as a group.
func (s Summary) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("fetched_bytes", s.Fetched), slog.Int64("decoded_bytes", s.Decoded),
		slog.Int64("written_bytes", s.Written), slog.Int64("zeroed_bytes", s.Zeroed),
		slog.Float64("fetch_s", round(s.FetchSec)), slog.Float64("decode_s", round(s.DecodeSec)),
		slog.Float64("write_s", round(s.WriteSec)), slog.Float64("zero_s", round(s.ZeroSec)),
		slog.Float64("wall_s", round(s.Wall)),
	)
}

// String is the human summary printed at the end on a terminal.
func (s Summary) String() string {
	return fmt.Sprintf("fetched %s, decoded %s, written %s, zeroed %s in %.2fs (stage seconds: fetch %.2f, decode %.2f, write %.2f, zero %.2f)",
		Human(s.Fetched), Human(s.Decoded), Human(s.Written), Human(s.Zeroed), s.Wall,
		s.FetchSec, s.DecodeSec, s.WriteSec, s.ZeroSec)
}

func round(f float64) float64 { return float64(int64(f*1000)) / 1000 }

// Human prints a byte count in binary units.
func Human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// Report shows progress every interval until ctx ends: a redrawn bar on w
// when tty, else a log line through logger. It returns when ctx is done.
func (c *Counters) Report(ctx context.Context, interval time.Duration, w io.Writer, tty bool, logger *slog.Logger) {
	if interval <= 0 {
		interval = 3 * time.Second
	}
	if tty {
		interval = min(interval, 200*time.Millisecond)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintf(w, "\r%s\n", c.bar())
			}
			return
		case <-t.C:
			if tty {
				fmt.Fprintf(w, "\r%s", c.bar())
				continue
			}
			el := time.Since(c.start).Seconds()
			done := c.done()
			logger.Info("progress", "done_bytes", done, "total_bytes", c.Total,
				"percent", round(pct(done, c.Total)), "fetched_bytes", c.Bytes(Fetch),
				"rate_bytes_per_s", int64(float64(done)/max(el, 1e-9)), "eta_s", round(eta(done, c.Total, el)))
		}
	}
}

func pct(done, total int64) float64 {
	if total <= 0 {
		return 0
	}
	return 100 * float64(done) / float64(total)
}

func eta(done, total int64, el float64) float64 {
	if done <= 0 || total <= done {
		return 0
	}
	return el * float64(total-done) / float64(done)
}

func (c *Counters) bar() string {
	el := time.Since(c.start).Seconds()
	done := c.done()
	p := pct(done, c.Total)
	const width = 30
	fill := int(p / 100 * width)
	fill = max(0, min(width, fill))
	return fmt.Sprintf("[%s%s] %5.1f%% %s/%s %s/s fetched %s ETA %.0fs  ",
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), p,
		Human(done), Human(c.Total), Human(int64(float64(done)/max(el, 1e-9))),
		Human(c.Bytes(Fetch)), eta(done, c.Total, el))
}

package progress

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestReportModes(t *testing.T) {
	c := New(100 << 20)
	c.Add(Fetch, 10<<20, time.Second)
	c.Add(Write, 30<<20, time.Second)
	c.Add(Zero, 20<<20, 0)

	var logs syncBuf
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	c.Report(ctx, 50*time.Millisecond, nil, false, slog.New(slog.NewJSONHandler(&logs, nil)))
	line, _, _ := strings.Cut(logs.String(), "\n")
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("progress line is not JSON: %q", line)
	}
	if rec["msg"] != "progress" || rec["done_bytes"] != float64(50<<20) || rec["percent"] != float64(50) {
		t.Fatalf("progress line %v", rec)
	}
	for _, k := range []string{"rate_bytes_per_s", "eta_s", "fetched_bytes", "total_bytes"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("progress line lacks %s", k)
		}
	}

	var bar syncBuf
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	c.Report(ctx2, time.Second, &bar, true, nil)
	if out := bar.String(); !strings.Contains(out, "\r[") || !strings.Contains(out, " 50.0% 50.0 MiB/100.0 MiB") || !strings.Contains(out, "ETA") {
		t.Fatalf("bar: %q", out)
	}

	s := c.Finish()
	if s.Fetched != 10<<20 || s.Written != 30<<20 || s.Zeroed != 20<<20 || s.FetchSec != 1 {
		t.Fatalf("summary %+v", s)
	}
	if !strings.Contains(s.String(), "written 30.0 MiB") {
		t.Fatalf("summary text %q", s)
	}
}

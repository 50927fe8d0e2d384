package ordered

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunOrderAndWindow(t *testing.T) {
	for _, tc := range []struct{ n, workers, window int }{
		{0, 2, 4}, {1, 1, 1}, {100, 4, 4}, {100, 4, 9}, {37, 8, 2}, {500, 3, 6},
	} {
		var live, maxLive atomic.Int64
		var got []int
		err := Run(context.Background(), tc.n, tc.workers, tc.window,
			func(ctx context.Context, i int) (int, error) {
				l := live.Add(1)
				for {
					m := maxLive.Load()
					if l <= m || maxLive.CompareAndSwap(m, l) {
						break
					}
				}
				time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
				return i * 2, nil
			},
			func(i, v int) error {
				live.Add(-1)
				if v != i*2 {
					t.Errorf("sink(%d) got %d", i, v)
				}
				got = append(got, i)
				return nil
			}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			if g != i {
				t.Fatalf("%+v: sink order %v", tc, got)
			}
		}
		if len(got) != tc.n {
			t.Fatalf("%+v: %d sunk", tc, len(got))
		}
		if w := max(tc.window, tc.workers); maxLive.Load() > int64(w) {
			t.Fatalf("%+v: %d results alive at once, window %d", tc, maxLive.Load(), w)
		}
	}
}

func TestRunErrors(t *testing.T) {
	boom := errors.New("boom")
	for _, where := range []string{"work", "sink"} {
		var mu sync.Mutex
		made, freed := map[int]bool{}, map[int]bool{}
		err := Run(context.Background(), 1000, 4, 8,
			func(ctx context.Context, i int) (int, error) {
				if where == "work" && i == 50 {
					return 0, boom
				}
				mu.Lock()
				made[i] = true
				mu.Unlock()
				return i, nil
			},
			func(i, v int) error {
				mu.Lock()
				freed[v] = true
				mu.Unlock()
				if where == "sink" && i == 50 {
					return boom
				}
				return nil
			},
			func(v int) { mu.Lock(); freed[v] = true; mu.Unlock() })
		if !errors.Is(err, boom) {
			t.Fatalf("%s error: %v", where, err)
		}
		for i := range made {
			if !freed[i] {
				t.Fatalf("%s error: result %d was neither sunk nor discarded", where, i)
			}
		}
		if len(made) > 50+8+1 {
			t.Fatalf("%s error: %d results made, the window should stop it near 50", where, len(made))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, 10, 2, 2, func(ctx context.Context, i int) (int, error) { return i, ctx.Err() },
		func(int, int) error { return nil }, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

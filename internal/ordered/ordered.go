// Package ordered runs a function over the indexes 0..n-1 on several
// goroutines and hands the results to a sink strictly in index order,
// with at most a fixed number of results alive at once. Publishing and
// verifying an image both need exactly this: chunks compressed or decoded
// in parallel, but the archive and the whole-image digest built in order,
// with memory bounded however fast the workers run ahead.
package ordered

import (
	"context"
	"sync"
)

type slot[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// Run calls work(ctx, i) for every i in [0, n) on up to workers goroutines
// and sink(i, result) for every i in increasing order on the calling
// goroutine. At most window indexes are between the start of work and the
// end of sink, so window bounds the memory held by results. The first error
// from work or sink cancels the rest and is returned; results of work that
// finished but were never sunk are passed to discard (if not nil) so their
// buffers can be recycled.
func Run[T any](ctx context.Context, n, workers, window int,
	work func(ctx context.Context, i int) (T, error),
	sink func(i int, v T) error,
	discard func(v T),
) error {
	if n <= 0 {
		return nil
	}
	if workers < 1 {
		workers = 1
	}
	if window < workers {
		window = workers
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ring := make([]slot[T], window)
	for k := range ring {
		ring[k].done = make(chan struct{}, 1)
	}
	free := make(chan struct{}, window)
	for range window {
		free <- struct{}{}
	}
	jobs := make(chan int)
	var wg sync.WaitGroup

	// The dispatcher hands out indexes in order, one per free slot, so
	// index i+window cannot start before i has been sunk.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		for i := range n {
			select {
			case <-ctx.Done():
				return
			case <-free:
			}
			select {
			case <-ctx.Done():
				return
			case jobs <- i:
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s := &ring[i%window]
				s.val, s.err = work(ctx, i)
				s.done <- struct{}{}
			}
		}()
	}

	var err error
	next := 0
	for ; next < n; next++ {
		s := &ring[next%window]
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-s.done:
			// Once received, the value belongs to sink (or, on a work
			// error, was never made).
			if s.err != nil {
				err = s.err
			} else {
				err = sink(next, s.val)
			}
			var zero T
			s.val, s.err = zero, nil
		}
		if err != nil {
			break
		}
		free <- struct{}{}
	}
	cancel()
	wg.Wait()
	if err != nil && discard != nil {
		// Hand back whatever finished but was never sunk.
		for k := next; k < n && k < next+window; k++ {
			s := &ring[k%window]
			select {
			case <-s.done:
				if s.err == nil {
					discard(s.val)
				}
			default:
			}
		}
	}
	return err
}

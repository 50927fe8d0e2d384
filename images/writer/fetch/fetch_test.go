package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func fast() Options {
	return Options{Stall: 200 * time.Millisecond, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, MaxAttempts: 20}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in               string
		first, last, tot int64
		bad              bool
	}{
		{"bytes 0-0/1234", 0, 0, 1234, false},
		{"bytes 10-19/*", 10, 19, -1, false},
		{"bytes */1234", 0, 0, 0, true},
		{"items 0-1/2", 0, 0, 0, true},
		{"bytes 5-x/9", 0, 0, 0, true},
	} {
		f, l, n, err := parseContentRange(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (f != tc.first || l != tc.last || n != tc.tot)) {
			t.Errorf("%q: %d %d %d %v", tc.in, f, l, n, err)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-0/1234", "bytes 10-19/*", "bytes */1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { parseContentRange(s) })
}

// A server that always drops the connection half-way never yields a
// short read dressed as success.
func TestPersistentCutIsNeverSuccess(t *testing.T) {
	data := bytes.Repeat([]byte("esxi"), 1<<16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("Range") == "bytes=0-0" {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
			return
		}
		w.Header().Set("Content-Length", "262144")
		w.Write(data[:1000])
	}))
	defer srv.Close()
	src, err := NewHTTP(context.Background(), srv.URL, fast())
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(src.Open(context.Background(), 0, src.Size()))
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrGaveUp) || !IsFetchError(err) {
		t.Fatalf("want ErrGaveUp wrapping io.ErrUnexpectedEOF, got %v", err)
	}
}

// Resume uses Range from the byte reached and If-Range with the ETag; a
// changed ETag stops the read.
func TestResumeAndChange(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)
	var reqs atomic.Int32
	var etag atomic.Value
	etag.Store(`"a"`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := reqs.Add(1)
		w.Header().Set("ETag", etag.Load().(string))
		if n == 2 {
			// First body request: cut after 1000 bytes.
			w.Header().Set("Content-Length", "262144")
			w.WriteHeader(200)
			w.Write(data[:1000])
			return
		}
		if n == 3 && r.Header.Get("If-Range") != `"a"` {
			t.Errorf("resume without If-Range: %q", r.Header.Get("If-Range"))
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	src, err := NewHTTP(context.Background(), srv.URL, fast())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(src.Open(context.Background(), 0, src.Size()))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("resumed read: %v (%d bytes)", err, len(got))
	}
	etag.Store(`"b"`)
	_, err = io.ReadAll(src.Open(context.Background(), 100, 200))
	if !errors.Is(err, ErrObjectChanged) {
		t.Fatalf("want ErrObjectChanged, got %v", err)
	}
}

func TestFileShortIsUnexpectedEOF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("hello"), 0o644)
	src, err := OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = io.ReadAll(src.Open(context.Background(), 0, 10))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
}

// A stall while skipping the prefix of a range-ignoring server's full
// response is a stall like any other: retried, not fatal (found by the
// randomized fault runs, together with a double close in the watchdog).
func TestStallWhileSkippingIsRetried(t *testing.T) {
	data := bytes.Repeat([]byte("vmfs"), 1<<14)
	var reqs atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := reqs.Add(1)
		w.Header().Set("ETag", `"x"`)
		w.Header().Set("Content-Length", "65536")
		w.WriteHeader(200) // Range ignored
		switch n {
		case 2: // first body: cut after 5000 bytes
			w.Write(data[:5000])
			panic(http.ErrAbortHandler)
		case 3: // resume: 1000 bytes of the prefix, then silence
			w.Write(data[:1000])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	src, err := NewHTTP(context.Background(), srv.URL, fast())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(src.Open(context.Background(), 0, src.Size()))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v (%d bytes, %d requests)", err, len(got), reqs.Load())
	}
}

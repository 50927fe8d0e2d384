package runonce

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLifecycle(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "state")}
	if r, err := s.Load(); r != nil || err != nil {
		t.Fatalf("fresh: %v %v", r, err)
	}
	run, err := s.Begin("iid-1", "equinix")
	if err != nil {
		t.Fatal(err)
	}
	if run.Done("hostname") {
		t.Fatal("fresh run has markers")
	}
	run.Mark("hostname")
	// Interrupted: a second Begin for the same instance keeps markers.
	run2, _ := s.Begin("iid-1", "equinix")
	if !run2.Done("hostname") || run2.Record().Runs != 2 {
		t.Fatalf("resume lost markers: %+v", run2.Record())
	}
	run2.Finish("succeeded")
	r, _ := s.Load()
	if !r.Completed() || r.InstanceID != "iid-1" {
		t.Fatalf("%+v", r)
	}
	// A new instance starts clean and archives the old record.
	run3, _ := s.Begin("iid/2", "ec2")
	if run3.Done("hostname") {
		t.Fatal("new instance inherited markers")
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "instances", "iid-1.json")); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Load(); r.Completed() {
		t.Fatal("new instance looks completed")
	}
	// A torn state file is an error, never "done".
	os.WriteFile(filepath.Join(s.Dir, "instance.json"), []byte(`{"instance_id":"iid-1","status":"succ`), 0o600)
	if _, err := s.Load(); err == nil {
		t.Fatal("torn state accepted")
	}
}

func TestLock(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	unlock, err := s.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(); !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock: %v, want ErrBusy", err)
	}
	unlock()
	unlock2, err := s.Lock()
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}

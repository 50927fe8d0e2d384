// Package runonce keeps the agent's per-instance state: which instance
// this host was configured for and which steps finished, so a reboot or a
// re-run with the same instance-id only verifies, and a new instance-id
// (a re-provisioned host) gets a full run.
//
// The default directory, /scratch/esxi-firstboot, is on the OSDATA volume
// (VMFS-L) of an ESXi 7/8 host that has one, which survives reboots without
// auto-backup.sh (research marks this likely, not confirmed on hardware);
// where scratch is a ramdisk the state is lost at reboot and a re-run is a
// full run again, which the diff-based plan makes safe.
package runonce

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

// DefaultDir is where the state lives on ESXi.
const DefaultDir = "/scratch/esxi-firstboot"

// Record is the state of one instance.
type Record struct {
	InstanceID string               `json:"instance_id"`
	Source     string               `json:"source,omitempty"`
	Started    time.Time            `json:"started"`
	Finished   time.Time            `json:"finished,omitzero"`
	Status     string               `json:"status"` // running, succeeded, failed
	Steps      map[string]time.Time `json:"steps"`
	Runs       int                  `json:"runs"`
}

// Completed reports whether the instance was configured successfully.
func (r *Record) Completed() bool { return r != nil && r.Status == "succeeded" }

// Store is a state directory.
type Store struct{ Dir string }

func (s Store) current() string { return filepath.Join(s.Dir, "instance.json") }

// Load returns the current record, or nil when the host never ran.
func (s Store) Load() (*Record, error) {
	b, err := nopoll.ReadFile(s.current(), 1<<20)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := &Record{}
	if err := json.Unmarshal(b, r); err != nil {
		// A torn or foreign file must not be mistaken for "done".
		return nil, fmt.Errorf("state %s: %w", s.current(), err)
	}
	return r, nil
}

var safeID = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// Begin starts (or resumes) a run for instance id. A different id
// archives the previous record under instances/ and starts afresh.
func (s Store) Begin(id, source string) (*Run, error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, err
	}
	old, err := s.Load()
	if err != nil {
		return nil, err
	}
	r := old
	if old == nil || old.InstanceID != id {
		if old != nil {
			arch := filepath.Join(s.Dir, "instances")
			if err := os.MkdirAll(arch, 0o700); err != nil {
				return nil, err
			}
			b, _ := json.MarshalIndent(old, "", "  ")
			if err := nopoll.WriteFileAtomic(filepath.Join(arch, safeID.ReplaceAllString(old.InstanceID, "_")+".json"), b, 0o600); err != nil {
				return nil, err
			}
		}
		r = &Record{InstanceID: id, Steps: map[string]time.Time{}}
	}
	if r.Steps == nil {
		r.Steps = map[string]time.Time{}
	}
	r.Source, r.Started, r.Finished, r.Status = source, time.Now().UTC(), time.Time{}, "running"
	r.Runs++
	run := &Run{store: s, rec: r}
	return run, run.save()
}

// Run is an in-progress instance; it implements plan.Markers.
type Run struct {
	store Store
	rec   *Record
}

func (r *Run) save() error {
	b, err := json.MarshalIndent(r.rec, "", "  ")
	if err != nil {
		return err
	}
	return nopoll.WriteFileAtomic(r.store.current(), b, 0o600)
}

// Done reports whether step finished in an earlier run of this instance.
func (r *Run) Done(step string) bool { _, ok := r.rec.Steps[step]; return ok }

// Mark records step as finished, durably, before the next step starts.
func (r *Run) Mark(step string) error {
	r.rec.Steps[step] = time.Now().UTC()
	return r.save()
}

// Finish records the outcome.
func (r *Run) Finish(status string) error {
	r.rec.Status, r.rec.Finished = status, time.Now().UTC()
	return r.save()
}

// ErrBusy: another run holds the state directory.
var ErrBusy = errors.New("another esxi-firstboot run is in progress")

// Lock takes an exclusive lock on the state directory so a manual run and
// the launcher's next-boot retry cannot interleave. Filesystems without
// flock (it is unconfirmed on VMFS-L) are tolerated: the lock is then
// advisory only. Call the returned function to release it.
func (s Store) Lock() (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, err
	}
	f, err := nopoll.Open(filepath.Join(s.Dir, "lock"), syscall.O_RDWR|syscall.O_CREAT, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	switch err {
	case nil, syscall.ENOSYS, syscall.EINVAL, syscall.ENOTSUP:
		return func() { f.Close() }, nil
	case syscall.EWOULDBLOCK:
		f.Close()
		return nil, fmt.Errorf("%s: %w", s.Dir, ErrBusy)
	}
	f.Close()
	return nil, fmt.Errorf("lock %s: %w", s.Dir, err)
}

// Record returns a copy of the record.
func (r *Run) Record() Record { return *r.rec }

package writer

import (
	"errors"
	"fmt"
)

// Kind says which side of the pipeline failed; each has its exit code so
// a Tinkerbell workflow or a script can tell a network problem from a bad
// image from a bad disk.
type Kind int

const (
	KindOther  Kind = 1
	KindUsage  Kind = 2
	KindSource Kind = 3 // the image could not be fetched completely
	KindVerify Kind = 4 // signature, digest or chunk hash mismatch, malformed data
	KindTarget Kind = 5 // the disk refused a write, flush or ioctl
)

func (k Kind) String() string {
	switch k {
	case KindUsage:
		return "usage"
	case KindSource:
		return "source"
	case KindVerify:
		return "verify"
	case KindTarget:
		return "target"
	}
	return "error"
}

// ErrVerify marks a content check that failed (also reachable as KindVerify).
var ErrVerify = errors.New("verification failed")

// Error is a failure with its Kind. Its message starts with the kind, so
// the one line an operator sees names the cause.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Kind.String() + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode maps an error returned by Write to the process exit status.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return int(e.Kind)
	}
	return int(KindOther)
}

// kindOf wraps err with k unless it already carries a kind.
func kindOf(k Kind, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Kind: k, Err: err}
}

func verifyErr(format string, a ...any) error {
	return &Error{Kind: KindVerify, Err: fmt.Errorf("%w: "+format, append([]any{ErrVerify}, a...)...)}
}

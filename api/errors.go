package api

import (
	"errors"
	"fmt"
)

// ErrorCode is the server's verdict on a request, carried in a Response.
// There is deliberately no timeout code: only a client can decide it has
// waited long enough, and then the outcome is unknown to it.
type ErrorCode byte

// The error codes.
const (
	// CodeOK: the request succeeded.
	CodeOK ErrorCode = iota
	// CodeNotLeader: this replica cannot serve the request; Response.Leader
	// hints at the leader. The request had no effect, so retrying it
	// elsewhere is safe.
	CodeNotLeader
	// CodeCompacted: the requested revision was compacted away.
	CodeCompacted
	// CodeFutureRevision: the requested revision is newer than the store.
	CodeFutureRevision
	// CodeNoSpace: the store is past its quota; the write did not happen.
	CodeNoSpace
	// CodeLeaseNotFound: no such lease.
	CodeLeaseNotFound
	// CodeLeaseExists: a lease of the requested ID already exists.
	CodeLeaseExists
	// CodeInvalid: the request is malformed or breaks a limit.
	CodeInvalid
	// CodeUnavailable: the replica is stopped or not ready; the request
	// had no effect.
	CodeUnavailable
	// CodeMemberNotFound: no such member.
	CodeMemberNotFound
	// CodeMemberExists: the member already exists.
	CodeMemberExists
	// CodeWatchNotFound: no such watch.
	CodeWatchNotFound
	// CodeTooManyRequests: the replica is overloaded; the request had no
	// effect.
	CodeTooManyRequests
	// CodeInternal: an unexpected server error.
	CodeInternal
	codeEnd
)

// Sentinel errors, one per code (except CodeOK), so a caller can use
// errors.Is on what a client returns.
var (
	ErrNotLeader       = errors.New("not leader")
	ErrCompacted       = errors.New("revision compacted")
	ErrFutureRevision  = errors.New("future revision")
	ErrNoSpace         = errors.New("no space: quota exceeded")
	ErrLeaseNotFound   = errors.New("lease not found")
	ErrLeaseExists     = errors.New("lease already exists")
	ErrInvalid         = errors.New("invalid request")
	ErrUnavailable     = errors.New("replica unavailable")
	ErrMemberNotFound  = errors.New("member not found")
	ErrMemberExists    = errors.New("member already exists")
	ErrWatchNotFound   = errors.New("watch not found")
	ErrTooManyRequests = errors.New("too many requests")
	ErrInternal        = errors.New("internal server error")
)

var codeErrs = [...]error{nil, ErrNotLeader, ErrCompacted, ErrFutureRevision,
	ErrNoSpace, ErrLeaseNotFound, ErrLeaseExists, ErrInvalid, ErrUnavailable,
	ErrMemberNotFound, ErrMemberExists, ErrWatchNotFound, ErrTooManyRequests,
	ErrInternal}

// Err is the sentinel error for the code (nil for CodeOK).
func (c ErrorCode) Err() error {
	if c < codeEnd {
		return codeErrs[c]
	}
	return ErrInternal
}

func (c ErrorCode) String() string {
	if c == CodeOK {
		return "OK"
	}
	if c < codeEnd {
		return codeErrs[c].Error()
	}
	return fmt.Sprintf("ErrorCode(%d)", byte(c))
}

// CodeOf maps a sentinel error (possibly wrapped) back to its code; any
// other non-nil error maps to CodeInternal.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return CodeOK
	}
	for c := CodeNotLeader; c < codeEnd; c++ {
		if errors.Is(err, codeErrs[c]) {
			return c
		}
	}
	return CodeInternal
}

// Decode failure reasons. A *DecodeError wraps exactly one of them.
var (
	ErrTruncated   = errors.New("truncated message")
	ErrEnvelope    = errors.New("unknown envelope")
	ErrVersion     = errors.New("unsupported codec version")
	ErrUnknownKind = errors.New("unknown message class, op or enum value")
	ErrTooLarge    = errors.New("field or message past its limit")
	ErrTrailing    = errors.New("trailing bytes after message")
	ErrMalformed   = errors.New("malformed message")
)

// DecodeError says why and where a payload failed to decode.
type DecodeError struct {
	// Offset is the byte offset in the payload where decoding failed.
	Offset int
	// Field names what was being decoded.
	Field string
	// Reason is one of the ErrXxx decode sentinels.
	Reason error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("api: decode %s at offset %d: %v", e.Field, e.Offset, e.Reason)
}

// Unwrap lets errors.Is match the reason.
func (e *DecodeError) Unwrap() error { return e.Reason }

// Package secret holds values that must never reach a log, an error, a plan
// or rendered debug output: root passwords and hashes, userdata, tokens,
// signing keys. Redaction lives in the type so no caller can forget it.
package secret

import (
	"encoding/json"
	"log/slog"
)

// Redacted is what every printing path shows instead of the value.
const Redacted = "[redacted]"

// Secret wraps a sensitive string. Its zero value is the empty secret.
// fmt's %v/%s/%q/%#v, slog, encoding/json and encoding/text all print
// Redacted; only Reveal returns the value, so every use is greppable.
type Secret struct{ v string }

// New wraps s.
func New(s string) Secret { return Secret{v: s} }

// Reveal returns the plaintext. Call it only where the value is consumed
// (hashing, sending to the host), never to print it.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether no value was set.
func (s Secret) IsZero() bool { return s.v == "" }

func (s Secret) String() string   { return Redacted }
func (s Secret) GoString() string { return `secret.Secret{"` + Redacted + `"}` }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText makes JSON, YAML and text encoders print Redacted, so a config
// dumped for debugging never leaks. Decoding goes through UnmarshalText.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// UnmarshalText reads a plaintext value, so a Secret can be a field of a
// decoded config or metadata document.
func (s *Secret) UnmarshalText(b []byte) error { s.v = string(b); return nil }

var _ json.Marshaler = Secret{}

// MarshalJSON is explicit so that a Secret inside any struct is redacted
// even by encoders that check json.Marshaler before TextMarshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

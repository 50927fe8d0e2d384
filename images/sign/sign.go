// Package sign signs and verifies published files in minisign's format
// (aead.dev/minisign), so operators can check a manifest with the stock
// `minisign -V` and our writer can check it before touching a disk.
//
// Private keys come from a file or from an environment variable holding
// the key file's text, optionally encrypted with a password; key material
// and passwords only ever travel as secret.Secret and are never logged.
package sign

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"aead.dev/minisign"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// Environment variables read by KeySourceFromEnv.
const (
	EnvKey      = "ESXI_MINISIGN_KEY"      // the secret key file's text
	EnvKeyFile  = "ESXI_MINISIGN_KEY_FILE" // path to the secret key file
	EnvPassword = "ESXI_MINISIGN_PASSWORD" // password of an encrypted key
)

// Sentinel errors.
var (
	ErrNoKey     = errors.New("no signing key configured")
	ErrKey       = errors.New("signing key")
	ErrSignature = errors.New("signature verification failed")
)

// KeySource says where a private key comes from. Exactly one of File and
// Key is used (File wins when both are set).
type KeySource struct {
	File     string
	Key      secret.Secret
	Password secret.Secret
}

// IsZero reports whether no key is configured.
func (s KeySource) IsZero() bool { return s.File == "" && s.Key.IsZero() }

// KeySourceFromEnv reads EnvKeyFile, EnvKey and EnvPassword.
func KeySourceFromEnv() KeySource {
	return KeySource{
		File:     os.Getenv(EnvKeyFile),
		Key:      secret.New(os.Getenv(EnvKey)),
		Password: secret.New(os.Getenv(EnvPassword)),
	}
}

// Signer holds a private key. It prints as [redacted] everywhere.
type Signer struct {
	key minisign.PrivateKey
}

func (s *Signer) String() string       { return secret.Redacted }
func (s *Signer) GoString() string     { return "sign.Signer{" + secret.Redacted + "}" }
func (s *Signer) LogValue() slog.Value { return slog.StringValue(secret.Redacted) }

// Load reads and, if encrypted, decrypts the private key. Errors name the
// source (file path or environment) but never include key bytes.
func Load(src KeySource) (*Signer, error) {
	var text []byte
	where := "key from " + EnvKey
	switch {
	case src.File != "":
		where = "key file " + src.File
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKey, err)
		}
		text = b
	case !src.Key.IsZero():
		text = []byte(src.Key.Reveal())
	default:
		return nil, ErrNoKey
	}
	defer clear(text)
	if minisign.IsEncrypted(text) {
		if src.Password.IsZero() {
			return nil, fmt.Errorf("%w: %s is encrypted and no password was given (set %s)", ErrKey, where, EnvPassword)
		}
		k, err := minisign.DecryptKey(src.Password.Reveal(), text)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: cannot decrypt (wrong password or not a minisign secret key)", ErrKey, where)
		}
		return &Signer{key: k}, nil
	}
	var k minisign.PrivateKey
	if err := k.UnmarshalText(bytes.TrimSpace(text)); err != nil {
		return nil, fmt.Errorf("%w: %s: not a minisign secret key", ErrKey, where)
	}
	return &Signer{key: k}, nil
}

// KeyID is the key's id as minisign prints it (upper-case hex).
func (s *Signer) KeyID() string { return keyID(s.key.ID()) }

func keyID(id uint64) string { return strings.ToUpper(strconv.FormatUint(id, 16)) }

// PublicKey returns the matching public key.
func (s *Signer) PublicKey() minisign.PublicKey {
	return s.key.Public().(minisign.PublicKey)
}

// Sign returns a minisign signature (prehashed, as minisign ≥0.10 makes by
// default) of msg with trustedComment, which minisign -V prints and
// verifies. The comment must be one line.
func (s *Signer) Sign(msg io.Reader, trustedComment string) ([]byte, error) {
	if strings.ContainsAny(trustedComment, "\r\n") {
		return nil, fmt.Errorf("trusted comment %q: must be one line", trustedComment)
	}
	r := minisign.NewReader(msg)
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	return r.SignWithComments(s.key, trustedComment, "signature from esxi-image secret key "+s.KeyID()), nil
}

// MarshalPublicKey returns the public key in minisign's .pub file format.
func MarshalPublicKey(pub minisign.PublicKey) []byte {
	b, _ := pub.MarshalText() // never fails
	return append(b, '\n')
}

// ParsePublicKey reads a public key: a minisign .pub file, or the bare
// base64 line that `minisign -P` takes.
func ParsePublicKey(text []byte) (minisign.PublicKey, error) {
	var pub minisign.PublicKey
	if err := pub.UnmarshalText(bytes.TrimSpace(text)); err != nil {
		return pub, fmt.Errorf("public key: %w", err)
	}
	return pub, nil
}

// LoadPublicKey reads a public key file.
func LoadPublicKey(path string) (minisign.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return minisign.PublicKey{}, fmt.Errorf("public key: %w", err)
	}
	pub, err := ParsePublicKey(b)
	if err != nil {
		return pub, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// Verify checks sig over msg with pub and returns the verified trusted
// comment. A wrong key, a malformed signature and a changed message or
// comment all wrap ErrSignature, each with its own message.
func Verify(pub minisign.PublicKey, msg, sig []byte) (string, error) {
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return "", fmt.Errorf("%w: malformed signature: %w", ErrSignature, err)
	}
	if s.KeyID != pub.ID() {
		return "", fmt.Errorf("%w: signed by key %s, want key %s", ErrSignature, keyID(s.KeyID), keyID(pub.ID()))
	}
	if !minisign.Verify(pub, msg, sig) {
		return "", fmt.Errorf("%w: key %s: the signed file or its trusted comment was changed", ErrSignature, keyID(pub.ID()))
	}
	return s.TrustedComment, nil
}

package kickstart

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-crypt/crypt/algorithm/shacrypt"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// saltChars is crypt(3)'s salt alphabet.
const saltChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./"

// CryptSaltLen is the salt length CryptSHA512 generates (the maximum).
const CryptSaltLen = 16

// CryptSHA512 returns the SHA-512 crypt(3) hash of pw in the form the
// installer accepts: "$6$salt$hash" with the default 5000 rounds and no
// "rounds=" field (7.0.3 rejects it; its pattern has no room for it).
// salt is 1-16 characters of [A-Za-z0-9./]; empty means a random one.
func CryptSHA512(pw secret.Secret, salt string) (secret.Secret, error) {
	if salt == "" {
		b := make([]byte, CryptSaltLen)
		if _, err := rand.Read(b); err != nil {
			return secret.Secret{}, fmt.Errorf("crypt salt: %w", err)
		}
		for i := range b {
			b[i] = saltChars[int(b[i])%len(saltChars)]
		}
		salt = string(b)
	}
	if len(salt) > CryptSaltLen || strings.Trim(salt, saltChars) != "" {
		return secret.Secret{}, fmt.Errorf("crypt salt: want 1-%d characters of [A-Za-z0-9./], got %d characters", CryptSaltLen, len(salt))
	}
	h, err := shacrypt.New(shacrypt.WithSHA512(), shacrypt.WithIterations(shacrypt.IterationsDefaultOmitted))
	if err != nil {
		return secret.Secret{}, fmt.Errorf("crypt: %w", err)
	}
	d, err := h.HashWithSalt(pw.Reveal(), []byte(salt))
	if err != nil {
		return secret.Secret{}, fmt.Errorf("crypt: %w", err)
	}
	return secret.New(d.Encode()), nil
}

// The installer's accepted crypted forms (weasel regexlocator.py).
var (
	reCryptMD5    = regexp.MustCompile(`^\$1\$[a-zA-Z0-9./$]{22,31}$`)
	reCryptSHA512 = regexp.MustCompile(`^\$6\$[a-zA-Z0-9./]{0,16}\$[a-zA-Z0-9./]{86}$`)
	reCryptDES    = regexp.MustCompile(`^[a-zA-Z0-9./]{13}$`)
)

// checkCrypted says why the installer would reject a --iscrypted value,
// or "" when it accepts it. It never includes the value.
func checkCrypted(h string) (msg, fix string) {
	switch {
	case reCryptMD5.MatchString(h), reCryptSHA512.MatchString(h), reCryptDES.MatchString(h):
		return "", ""
	case strings.HasPrefix(h, "$6$rounds="):
		return "SHA-512 hash with a rounds= field: the installer (7.0.3 and others) accepts only $6$salt$hash",
			"re-hash without rounds (openssl passwd -6, or let the renderer crypt the password)"
	case strings.HasPrefix(h, "$6$"):
		return "malformed SHA-512 hash: want $6$ + salt of at most 16 characters + $ + 86 characters",
			"re-hash the password (openssl passwd -6)"
	case strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$y$"), strings.HasPrefix(h, "$2"), strings.HasPrefix(h, "$7$"):
		return "hash scheme not accepted by the installer (only $6$ SHA-512, $1$ MD5 or 13-character DES)",
			"re-hash with SHA-512 (openssl passwd -6)"
	}
	return "not a crypt(3) hash the installer accepts ($6$ SHA-512, $1$ MD5 or 13-character DES)",
		"drop --iscrypted for a plaintext password, or give a SHA-512 hash (openssl passwd -6)"
}

// checkPlain applies the installer's plaintext rules: 7-40 printable
// ASCII characters including space (users.py), then the passwdqc default
// "min=disabled,disabled,disabled,7,7": at least three of the four
// character classes, where an upper-case first letter and a digit as last
// character do not count (passwdqc's rule). Dictionary and sequence checks
// of pwqcheck are not reproduced. It never includes the value.
func checkPlain(pw string) (rule, msg, fix string) {
	if len(pw) < 7 || len(pw) > 40 {
		return "rootpw-length", fmt.Sprintf("password is %d characters: the installer wants 7 to 40", len(pw)),
			"use a password of 7 to 40 characters"
	}
	for i := 0; i < len(pw); i++ {
		if pw[i] < 0x20 || pw[i] > 0x7e {
			return "rootpw-charset", "password has a character outside printable ASCII: the installer refuses it",
				"use letters, digits, punctuation and spaces only"
		}
	}
	var lower, upper, digit, other bool
	for i := 0; i < len(pw); i++ {
		c := pw[i]
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			if i > 0 {
				upper = true
			}
		case c >= '0' && c <= '9':
			if i < len(pw)-1 {
				digit = true
			}
		default:
			other = true
		}
	}
	n := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			n++
		}
	}
	if n < 3 {
		return "rootpw-weak", fmt.Sprintf("password uses %d character class(es); the installer's policy wants 3 of lower, upper, digit, other (a leading capital and a trailing digit do not count)", n),
			"mix lower case, upper case, digits and punctuation"
	}
	return "", "", ""
}

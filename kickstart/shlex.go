package kickstart

import (
	"errors"
	"strings"
)

// The installer (weasel) tokenizes each line on its own with Python's
// shlex.split(line, comments=True). No Go library reproduces that exact
// state machine (a '#' inside an unquoted word starts a comment, a
// backslash before the newline yields a literal "\n" token instead of
// joining lines), and those quirks decide what the installer reads, so it
// is hand-written here from shlex's POSIX-mode rules.

var (
	errNoClosingQuote = errors.New("no closing quotation")
	errNoEscapedChar  = errors.New("no escaped character")
)

// lineTokens is what the tokenizer learned about one line.
type lineTokens struct {
	tokens []string
	// commentInWord: a '#' ended an unquoted word, truncating it.
	commentInWord bool
	// continuation: the line ended in a backslash-newline, which shlex turns
	// into a literal newline token rather than a line join.
	continuation bool
}

func isShlexSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// tokenizeLine splits one line (with or without its trailing newline).
func tokenizeLine(line string) (lineTokens, error) {
	var (
		out    lineTokens
		tok    strings.Builder
		inTok  bool // a token is being built (possibly empty and quoted)
		quote  byte // 0, '\'' or '"'
		escape bool
		escIn  byte // quote state to return to after an escape
	)
	flush := func() {
		if inTok {
			out.tokens = append(out.tokens, tok.String())
		}
		tok.Reset()
		inTok = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case escape:
			// Inside double quotes only the quote and the escape character
			// itself can be escaped; elsewhere the backslash stays.
			if escIn == '"' && c != '"' && c != '\\' {
				tok.WriteByte('\\')
			}
			if c == '\n' && escIn == 0 {
				out.continuation = true
			}
			tok.WriteByte(c)
			inTok = true
			escape = false
			quote = escIn
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				tok.WriteByte(c)
			}
		case quote == '"':
			switch c {
			case '"':
				quote = 0
			case '\\':
				escape, escIn = true, '"'
			default:
				tok.WriteByte(c)
			}
		case isShlexSpace(c):
			flush()
		case c == '#':
			if inTok {
				out.commentInWord = true
			}
			flush()
			return out, nil
		case c == '\\':
			escape, escIn, inTok = true, 0, true
		case c == '\'' || c == '"':
			quote, inTok = c, true
		default:
			tok.WriteByte(c)
			inTok = true
		}
	}
	if escape {
		return out, errNoEscapedChar
	}
	if quote != 0 {
		return out, errNoClosingQuote
	}
	flush()
	return out, nil
}

// shellQuote renders one token so that tokenizeLine reads it back
// unchanged. Tokens containing a newline cannot be written on one line.
func shellQuote(s string) (string, bool) {
	if strings.ContainsAny(s, "\n") {
		return "", false
	}
	if s != "" && !strings.ContainsAny(s, " \t\r'\"\\#") {
		return s, true
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'", true
}

package hl7

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// unescape decodes the escape sequences of one value. \F\ \S\ \T\ \R\ \E\ become the
// delimiters, \P\ the truncation character (when MSH-2 declares one), \Xhh..\ the bytes
// written in hex. Other well-formed sequences (the formatting ones: \H\, \N\, \.br\, \Zxx\,
// \Cxxyy\, \Mxxyyzz\) are kept verbatim, escape characters included.
func unescape(s []byte, d Delimiters) (string, error) {
	if bytes.IndexByte(s, d.Escape) < 0 {
		return string(s), nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != d.Escape {
			b.WriteByte(c)
			i++
			continue
		}
		j := bytes.IndexByte(s[i+1:], d.Escape)
		if j < 0 {
			// Errors name positions, never the text: it may be a patient's name, and they
			// are logged.
			return "", fmt.Errorf("unterminated escape sequence at character %d", i+1)
		}
		seq := s[i+1 : i+1+j]
		i += j + 2
		if len(seq) == 0 {
			return "", fmt.Errorf("empty escape sequence")
		}
		if len(seq) == 1 {
			if r, ok := d.delimiterFor(seq[0]); ok {
				b.WriteByte(r)
				continue
			}
		}
		if seq[0] == 'X' {
			raw, err := decodeHex(seq[1:])
			if err != nil {
				return "", err
			}
			b.Write(raw)
			continue
		}
		b.WriteByte(d.Escape)
		b.Write(seq)
		b.WriteByte(d.Escape)
	}
	return b.String(), nil
}

// delimiterFor maps the letter of a one-letter escape sequence to its character.
func (d Delimiters) delimiterFor(letter byte) (byte, bool) {
	switch letter {
	case 'F':
		return d.Field, true
	case 'S':
		return d.Component, true
	case 'T':
		return d.Subcomponent, true
	case 'R':
		return d.Repetition, true
	case 'E':
		return d.Escape, true
	case 'P':
		return d.Truncation, d.Truncation != 0
	}
	return 0, false
}

func decodeHex(h []byte) ([]byte, error) {
	if len(h) == 0 || len(h)%2 != 0 {
		return nil, fmt.Errorf("a \\X escape sequence needs an even number of hex digits, has %d", len(h))
	}
	out := make([]byte, len(h)/2)
	if _, err := hex.Decode(out, h); err != nil {
		return nil, errors.New("a \\X escape sequence holds a character that is not a hex digit")
	}
	return out, nil
}

// textWriter is what the encoder writes to: a strings.Builder or a bytes.Buffer.
type textWriter interface {
	WriteByte(c byte) error
	WriteString(s string) (int, error)
}

// escape writes a value with its delimiters escaped and its control characters (including
// \r and \n, which would end the segment) written as \Xhh..\.
func escape(w textWriter, s string, d Delimiters) {
	if !needsEscape(s, d) {
		w.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if letter := d.escapeLetter(c); letter != 0 {
			w.WriteByte(d.Escape)
			w.WriteByte(letter)
			w.WriteByte(d.Escape)
			continue
		}
		if !isControl(c) {
			w.WriteByte(c)
			continue
		}
		j := i
		for j < len(s) && isControl(s[j]) {
			j++
		}
		w.WriteByte(d.Escape)
		w.WriteString("X" + strings.ToUpper(hex.EncodeToString([]byte(s[i:j]))))
		w.WriteByte(d.Escape)
		i = j - 1
	}
}

// escapeLetter returns the escape letter of a delimiter, or 0 when c is not one.
func (d Delimiters) escapeLetter(c byte) byte {
	switch {
	case c == d.Field:
		return 'F'
	case c == d.Component:
		return 'S'
	case c == d.Subcomponent:
		return 'T'
	case c == d.Repetition:
		return 'R'
	case c == d.Escape:
		return 'E'
	case d.Truncation != 0 && c == d.Truncation:
		return 'P'
	}
	return 0
}

func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

func needsEscape(s string, d Delimiters) bool {
	for i := 0; i < len(s); i++ {
		if isControl(s[i]) || d.escapeLetter(s[i]) != 0 {
			return true
		}
	}
	return false
}

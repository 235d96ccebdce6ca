package apstra

// A deployed configuration arrives as one JSON string, {"config": "<text>"}, which
// may be many MiB. configText hands on the text as it decodes it, so that it
// streams into the store: encoding/json would hold the answer and the text whole.

import (
	"bufio"
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// maxConfigAnswer bounds a config-rendering answer: a server that sends more (a
// hostile one never ends) fails the read once it has. Real configurations are a few
// MiB at most.
const maxConfigAnswer = 64 << 20

// maxJSONDepth bounds the nesting of the answer's other members, which are skipped.
const maxJSONDepth = 64

// errAnswerTooLarge is an answer longer than maxConfigAnswer.
var errAnswerTooLarge = fmt.Errorf("the answer is larger than %d MiB", maxConfigAnswer>>20)

// configText reads the "config" member of a config-rendering answer as the text's
// bytes. The answer's other members are read and dropped. It ends with io.EOF only
// once the whole answer has been read and found to be one JSON object with exactly
// one "config" member, a string; anything else is an error. As encoding/json does,
// it replaces invalid UTF-8 and unpaired surrogates with U+FFFD.
type configText struct {
	r       *bufio.Reader
	state   int    // textBefore, textIn, textDone
	pending []byte // decoded bytes not handed on yet (part of one rune)
	unit    [utf8.UTFMax]byte
	err     error // sticky
}

const (
	textBefore = iota // the members before "config"
	textIn            // inside the config string
	textDone          // the string and the rest of the answer were read
)

// malformedError is an answer that is not the JSON expected (as opposed to one
// that could not be read). Its text holds no more of the answer than a character.
type malformedError struct{ msg string }

func (e *malformedError) Error() string { return e.msg }

func malformed(format string, args ...any) error {
	return &malformedError{msg: fmt.Sprintf(format, args...)}
}

// errNoConfig is an answer without a "config" text.
var errNoConfig = &malformedError{msg: `the answer has no "config" text`}

func newConfigText(body io.Reader) *configText {
	return &configText{r: bufio.NewReaderSize(&cappedReader{r: body, left: maxConfigAnswer}, 32<<10)}
}

func (t *configText) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if t.state == textBefore {
		if t.err = t.findConfig(); t.err != nil {
			return 0, t.err
		}
		t.state = textIn
	}
	n := 0
	for n < len(p) && t.state == textIn {
		if len(t.pending) > 0 {
			k := copy(p[n:], t.pending)
			t.pending, n = t.pending[k:], n+k
			continue
		}
		if k := t.plainRun(p[n:]); k > 0 {
			n += k
			continue
		}
		unit, end, err := t.stringUnit()
		if err != nil {
			t.err = err
			return n, err
		}
		if end {
			if err := t.finish(); err != nil {
				t.err = err
				return n, err
			}
			t.state = textDone
			break
		}
		t.pending = unit
	}
	if t.state == textDone && len(t.pending) == 0 {
		t.err = io.EOF
		if n == 0 {
			return 0, io.EOF
		}
	}
	return n, nil
}

// plainRun copies the buffered bytes that stand for themselves (printable ASCII but
// the quote and the backslash) into p: the bulk of a configuration, without
// decoding it one byte at a time.
func (t *configText) plainRun(p []byte) int {
	buf, _ := t.r.Peek(min(t.r.Buffered(), len(p)))
	k := 0
	for k < len(buf) && buf[k] >= 0x20 && buf[k] < utf8.RuneSelf && buf[k] != '"' && buf[k] != '\\' {
		k++
	}
	copy(p, buf[:k])
	_, _ = t.r.Discard(k) // k bytes are buffered
	return k
}

// findConfig reads the answer up to the start of the config string's content.
func (t *configText) findConfig() error {
	if err := t.expect('{'); err != nil {
		return err
	}
	c, err := t.nonSpace()
	if err != nil {
		return err
	}
	if c == '}' {
		return errNoConfig
	}
	for {
		if c != '"' {
			return t.syntax(c, "a member's name")
		}
		isConfig, err := t.memberName()
		if err != nil {
			return err
		}
		if c, err = t.nonSpace(); err != nil {
			return err
		}
		if isConfig {
			switch c {
			case '"':
				return nil
			case 'n':
				if err := t.literal("null"); err != nil {
					return err
				}
				return errNoConfig
			}
			return malformed(`"config" is not a text but starts with %q`, c)
		}
		if err := t.skipValue(c, 1); err != nil {
			return err
		}
		if c, err = t.nonSpace(); err != nil {
			return err
		}
		switch c {
		case '}':
			return errNoConfig
		case ',':
			if c, err = t.nonSpace(); err != nil {
				return err
			}
		default:
			return t.syntax(c, "',' or '}' after a member")
		}
	}
}

// finish reads the rest of the answer after the config string: other members (a
// second "config" is an error, as its meaning would be unclear), the end of the
// object, nothing after it.
func (t *configText) finish() error {
	for {
		c, err := t.nonSpace()
		if err != nil {
			return err
		}
		switch c {
		case '}':
			return t.atEnd()
		case ',':
		default:
			return t.syntax(c, "',' or '}' after a member")
		}
		if c, err = t.nonSpace(); err != nil {
			return err
		}
		if c != '"' {
			return t.syntax(c, "a member's name")
		}
		isConfig, err := t.memberName()
		if err != nil {
			return err
		}
		if isConfig {
			return malformed(`the answer has two "config" members`)
		}
		if c, err = t.nonSpace(); err != nil {
			return err
		}
		if err := t.skipValue(c, 1); err != nil {
			return err
		}
	}
}

// memberName reads a member's name (its opening quote read) and the colon after
// it, and reports whether it is "config".
func (t *configText) memberName() (bool, error) {
	var name []byte
	for {
		unit, end, err := t.stringUnit()
		if err != nil {
			return false, err
		}
		if end {
			break
		}
		if len(name) <= len("config") {
			name = append(name, unit...)
		}
	}
	if err := t.expect(':'); err != nil {
		return false, err
	}
	return string(name) == "config", nil
}

// skipValue reads one JSON value whose first byte c was read, at nesting depth.
func (t *configText) skipValue(c byte, depth int) error {
	switch {
	case c == '"':
		for {
			_, end, err := t.stringUnit()
			if err != nil || end {
				return err
			}
		}
	case c == '{' || c == '[':
		if depth > maxJSONDepth {
			return malformed("the answer nests deeper than %d levels", maxJSONDepth)
		}
		return t.skipContainer(c, depth)
	case c == 't':
		return t.literal("true")
	case c == 'f':
		return t.literal("false")
	case c == 'n':
		return t.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return t.skipNumber(c)
	}
	return t.syntax(c, "a value")
}

func (t *configText) skipContainer(open byte, depth int) error {
	closer := byte('}')
	if open == '[' {
		closer = ']'
	}
	c, err := t.nonSpace()
	if err != nil || c == closer {
		return err
	}
	for {
		if open == '{' {
			if c != '"' {
				return t.syntax(c, "a member's name")
			}
			if _, err := t.memberName(); err != nil {
				return err
			}
			if c, err = t.nonSpace(); err != nil {
				return err
			}
		}
		if err := t.skipValue(c, depth+1); err != nil {
			return err
		}
		if c, err = t.nonSpace(); err != nil {
			return err
		}
		switch c {
		case closer:
			return nil
		case ',':
			if c, err = t.nonSpace(); err != nil {
				return err
			}
		default:
			return t.syntax(c, fmt.Sprintf("',' or '%c'", closer))
		}
	}
}

// skipNumber reads a number whose first byte c was read, checking it against
// JSON's grammar as it goes: any length, in constant memory.
func (t *configText) skipNumber(c byte) error {
	const (
		afterMinus = iota // a digit must follow
		afterZero         // a leading 0: no digit may follow
		inInteger
		afterDot // a digit must follow
		inFraction
		afterE     // a sign or a digit must follow
		afterESign // a digit must follow
		inExponent
	)
	digit := func(b byte) bool { return b >= '0' && b <= '9' }
	var state int
	switch {
	case c == '-':
		state = afterMinus
	case c == '0':
		state = afterZero
	case digit(c):
		state = inInteger
	default:
		return malformed("the answer holds an invalid number")
	}
	for {
		b, err := t.r.ReadByte()
		if err != nil && err != io.EOF {
			return err
		}
		next := -1 // the number ended before b
		if err == nil {
			switch {
			case state == afterMinus && b == '0':
				next = afterZero
			case (state == afterMinus || state == inInteger) && digit(b):
				next = inInteger
			case (state == afterZero || state == inInteger) && b == '.':
				next = afterDot
			case (state == afterDot || state == inFraction) && digit(b):
				next = inFraction
			case (state == afterZero || state == inInteger || state == inFraction) && (b == 'e' || b == 'E'):
				next = afterE
			case state == afterE && (b == '+' || b == '-'):
				next = afterESign
			case (state == afterE || state == afterESign || state == inExponent) && digit(b):
				next = inExponent
			}
		}
		if next >= 0 {
			state = next
			continue
		}
		if err == nil {
			_ = t.r.UnreadByte() // the byte after the number, read just now
		}
		switch state {
		case afterZero, inInteger, inFraction, inExponent:
			return nil
		}
		return malformed("the answer holds an invalid number")
	}
}

// stringUnit decodes the next character of a string whose opening quote was read:
// its UTF-8 bytes (valid only until the next call), or end at the closing quote.
func (t *configText) stringUnit() (unit []byte, end bool, err error) {
	c, err := t.readByte()
	if err != nil {
		return nil, false, err
	}
	switch {
	case c == '"':
		return nil, true, nil
	case c == '\\':
		return t.escape()
	case c < 0x20:
		return nil, false, malformed("the answer holds a control character (%#02x) inside a string", c)
	case c < utf8.RuneSelf:
		t.unit[0] = c
		return t.unit[:1], false, nil
	}
	_ = t.r.UnreadByte() // c, read just now
	r, size, err := t.r.ReadRune()
	if err != nil {
		return nil, false, err
	}
	if r == utf8.RuneError && size == 1 {
		r = utf8.RuneError // invalid UTF-8: U+FFFD, as encoding/json decodes it
	}
	return t.unit[:utf8.EncodeRune(t.unit[:], r)], false, nil
}

// escape decodes an escape sequence whose backslash was read.
func (t *configText) escape() ([]byte, bool, error) {
	c, err := t.readByte()
	if err != nil {
		return nil, false, err
	}
	var r rune
	switch c {
	case '"', '\\', '/':
		r = rune(c)
	case 'b':
		r = '\b'
	case 'f':
		r = '\f'
	case 'n':
		r = '\n'
	case 'r':
		r = '\r'
	case 't':
		r = '\t'
	case 'u':
		if r, err = t.hex4(); err != nil {
			return nil, false, err
		}
		if utf16.IsSurrogate(r) {
			r = t.lowSurrogate(r)
		}
	default:
		return nil, false, malformed("the answer holds an invalid escape \\%c", c)
	}
	return t.unit[:utf8.EncodeRune(t.unit[:], r)], false, nil
}

// lowSurrogate pairs the surrogate hi with a \u escape that follows it, which it
// then consumes; an unpaired surrogate is U+FFFD (and what follows stays unread).
func (t *configText) lowSurrogate(hi rune) rune {
	next, err := t.r.Peek(6)
	if err != nil || next[0] != '\\' || next[1] != 'u' {
		return utf8.RuneError
	}
	lo, ok := parseHex4(next[2:6])
	if !ok {
		return utf8.RuneError
	}
	r := utf16.DecodeRune(hi, lo)
	if r == utf8.RuneError {
		return r
	}
	_, _ = t.r.Discard(6) // peeked just now
	return r
}

func (t *configText) hex4() (rune, error) {
	var h [4]byte
	for i := range h {
		c, err := t.readByte()
		if err != nil {
			return 0, err
		}
		h[i] = c
	}
	r, ok := parseHex4(h[:])
	if !ok {
		return 0, malformed("the answer holds an invalid escape \\u%q", h[:])
	}
	return r, nil
}

func parseHex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// literal reads the rest of word (true, false or null), whose first byte was read.
func (t *configText) literal(word string) error {
	for i := 1; i < len(word); i++ {
		c, err := t.readByte()
		if err != nil {
			return err
		}
		if c != word[i] {
			return t.syntax(c, "true, false or null")
		}
	}
	return nil
}

// nonSpace reads the next byte that is not JSON white space: the answer's end is
// an error (more must follow wherever it is called).
func (t *configText) nonSpace() (byte, error) {
	for {
		c, err := t.readByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(c) {
			return c, nil
		}
	}
}

// atEnd reads the white space after the answer's object up to the answer's end.
func (t *configText) atEnd() error {
	for {
		c, err := t.r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !isSpace(c) {
			return t.syntax(c, "the end of the answer")
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (t *configText) expect(want byte) error {
	c, err := t.nonSpace()
	if err != nil {
		return err
	}
	if c != want {
		return t.syntax(c, fmt.Sprintf("'%c'", want))
	}
	return nil
}

// readByte reads the next byte inside a value: the answer's end is an error there.
func (t *configText) readByte() (byte, error) {
	c, err := t.r.ReadByte()
	if err != nil {
		return 0, t.unexpectedEnd(err)
	}
	return c, nil
}

// unexpectedEnd is the answer's end where more must follow.
func (t *configText) unexpectedEnd(err error) error {
	if err == io.EOF {
		return malformed("the answer ends early")
	}
	return err
}

func (t *configText) syntax(c byte, want string) error {
	return malformed("%q where %s belongs", c, want)
}

// cappedReader reads at most left bytes of r; a byte beyond them is
// errAnswerTooLarge.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, err := c.r.Read(one[:]); n > 0 {
			return 0, errAnswerTooLarge
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

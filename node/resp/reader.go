package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/stratacache/stratacache/node/internal/bufpool"
)

// ErrProtocol is wrapped by every malformed-input error of the Reader. The
// server answers it with "-ERR Protocol error: ..." and closes the
// connection, as Redis does.
var ErrProtocol = errors.New("Protocol error")

// Limits bound what one command may make the Reader hold. Every length is
// checked against them before a buffer is allocated.
type Limits struct {
	// MaxBulk bounds one bulk string (a value).
	MaxBulk int64
	// MaxRequest bounds the sum of a command's argument lengths.
	MaxRequest int64
	// MaxArgs bounds the number of arguments of one command.
	MaxArgs int
	// MaxInline bounds an inline command line (and any header line).
	MaxInline int
}

// DefaultLimits: 64 MiB values, 256 MiB per command, 1M arguments, 64 KiB
// inline lines (Redis's own inline limit).
func DefaultLimits() Limits {
	return Limits{MaxBulk: 64 << 20, MaxRequest: 256 << 20, MaxArgs: 1 << 20, MaxInline: 64 << 10}
}

// bigArg is the size from which an argument gets its own pooled buffer
// instead of a place in the connection's small-argument arena.
const bigArg = 16 << 10

// maxKeptArena is the arena capacity a connection keeps between commands.
const maxKeptArena = 64 << 10

// freeArena is the arena a command may fill without drawing on the budget
// (Reader.Acquire): per connection, bounded by the connection cap.
const freeArena = 64 << 10

// Before authentication a command may carry at most preAuthArgs arguments
// of at most preAuthBulk bytes each, and the read buffer (hence an inline
// command) is preAuthBuffer bytes: Redis's limits for unauthenticated
// clients since 6.2 (CVE-2021-32675), so that a client without the token
// cannot make the node allocate more than a few KiB.
const (
	preAuthArgs   = 10
	preAuthBulk   = 16 << 10
	preAuthBuffer = 4 << 10
)

// ErrBusy is wrapped by ReadCommand's error when Acquire refused a value
// of the command: the whole command was read and skipped without being
// stored anywhere, and the connection stays usable.
var ErrBusy = errors.New("busy")

// argRef locates one argument: in the arena (big < 0) or in big buffer i.
type argRef struct {
	off, n int
	big    int
}

// Reader parses RESP2 commands: arrays of bulk strings (what clients send)
// and inline commands (what a human types into telnet). It is not safe for
// concurrent use. The argument slices ReadCommand returns stay valid until
// the next call.
type Reader struct {
	r     *bufio.Reader
	lim   Limits
	arena []byte
	refs  []argRef
	bigs  []*[]byte
	args  [][]byte

	// StreamSet, when set, is offered every plain `SET key value` (a
	// three-element multibulk whose first element is SET) with a value of
	// at least StreamMin bytes, before the value is read. See StreamFunc.
	StreamSet StreamFunc
	// StreamMin is the smallest value StreamSet is offered (0: bigArg).
	StreamMin int64
	// ReadFull, when set, reads every large value (bigArg and up, streamed
	// ones included) from the buffered reader it is given; the server arms
	// a progress deadline per chunk there. Default io.ReadFull.
	ReadFull func(r io.Reader, dst []byte) error
	// Acquire and Release, when set, account the bytes a command makes the
	// Reader hold (large values, and the arena beyond freeArena) against
	// the node's budget; they are taken before the memory is and given
	// back by Done. An Acquire error skips the value (ErrBusy).
	Acquire func(n int64) error
	Release func(n int64)
	// Unauthenticated applies the pre-auth limits (preAuthArgs,
	// preAuthBulk); a connection clears it on AUTH and calls Grow.
	Unauthenticated bool

	held      int64 // bytes taken with Acquire for the current command
	arenaHeld int64 // the part of held that covers the arena
	busy      error // the Acquire error of the current command
	under     io.Reader
	maxBuf    int

	streamed  bool
	streamErr error
}

// StreamFunc takes a SET's value straight from the connection: key is the
// SET's key (valid during the call), n the value's length, and fill reads
// exactly the value into dst (checking the CRLF after it; an error from fill
// means nothing may be stored). It returns handled=false, without calling
// fill, to let the Reader read the value as usual; with handled=true the
// Reader makes sure the value was consumed (skipping it when fill was never
// called), and ReadCommand returns the command as [SET key] with Streamed
// reporting true and err.
type StreamFunc func(key []byte, n int64, fill func(dst []byte) error) (handled bool, err error)

// Streamed reports whether the last command's value went to StreamSet, and
// the error StreamSet returned for it (the SET's outcome).
func (r *Reader) Streamed() (bool, error) { return r.streamed, r.streamErr }

// NewReader reads commands from r, which should be a *bufio.Reader whose
// buffer is at least lim.MaxInline bytes (NewReader wraps anything else).
func NewReader(r io.Reader, lim Limits) *Reader {
	if lim.MaxInline <= 0 {
		lim.MaxInline = DefaultLimits().MaxInline
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < lim.MaxInline {
		br = bufio.NewReaderSize(r, lim.MaxInline)
	}
	return &Reader{r: br, lim: lim, under: r, maxBuf: lim.MaxInline}
}

// NewPreAuthReader is NewReader for a connection that must authenticate
// first: Unauthenticated is set and the read buffer is small until Grow.
func NewPreAuthReader(r io.Reader, lim Limits) *Reader {
	if lim.MaxInline <= 0 {
		lim.MaxInline = DefaultLimits().MaxInline
	}
	return &Reader{r: bufio.NewReaderSize(r, preAuthBuffer), lim: lim, under: r, maxBuf: lim.MaxInline, Unauthenticated: true}
}

// Grow lifts the pre-auth limits and gives the Reader its full-size read
// buffer, keeping what the small one already holds (a pipelined command
// after AUTH).
func (r *Reader) Grow() {
	r.Unauthenticated = false
	if r.r.Size() >= r.maxBuf {
		return
	}
	var rest io.Reader = r.under
	if n := r.r.Buffered(); n > 0 {
		b, _ := r.r.Peek(n) // the old buffer is dropped with the old reader: no copy needed
		rest = io.MultiReader(bytes.NewReader(b), r.under)
	}
	r.r = bufio.NewReaderSize(rest, r.maxBuf)
}

// Done ends the current command: its buffers go back to the pool and its
// budget is released. The server calls it once the command has executed,
// before waiting for the next one (ReadCommand calls it too).
func (r *Reader) Done() { r.release() }

// Buffered reports how many bytes are waiting in the read buffer: when it is
// zero the server flushes its replies (end of a pipelined batch).
func (r *Reader) Buffered() int { return r.r.Buffered() }

// release returns the previous command's big buffers to the pool.
func (r *Reader) release() {
	for i, b := range r.bigs {
		bufpool.Shared.Put(b)
		r.bigs[i] = nil
	}
	r.bigs = r.bigs[:0]
	r.refs = r.refs[:0]
	if cap(r.arena) > maxKeptArena {
		r.arena = nil // one huge command must not pin memory for the connection's life
	}
	r.arena = r.arena[:0]
	r.streamed, r.streamErr = false, nil
	clear(r.args)
	r.args = r.args[:0]
	if r.held > 0 {
		r.Release(r.held)
		r.held, r.arenaHeld = 0, 0
	}
	r.busy = nil
}

// acquire takes n bytes of budget for the current command.
func (r *Reader) acquire(n int64) error {
	if r.Acquire == nil || n <= 0 {
		return nil
	}
	if err := r.Acquire(n); err != nil {
		return err
	}
	r.held += n
	return nil
}

// Close returns the Reader's pooled buffers; the Reader must not be used
// afterwards.
func (r *Reader) Close() { r.release() }

// ReadCommand returns the next command's arguments (never empty). io.EOF
// means the client closed between commands; an error wrapping ErrProtocol
// means the input is malformed and the connection must be closed.
func (r *Reader) ReadCommand() ([][]byte, error) {
	r.release()
	for {
		line, err := r.line()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			continue // Redis ignores empty inline lines
		}
		if line[0] != '*' {
			if err := r.inline(line); err != nil {
				return nil, err
			}
		} else {
			n, ok := parseInt(line[1:])
			if !ok || n > int64(r.lim.MaxArgs) {
				return nil, fmt.Errorf("%w: invalid multibulk length", ErrProtocol)
			}
			if r.Unauthenticated && n > preAuthArgs {
				return nil, fmt.Errorf("%w: unauthenticated multibulk length", ErrProtocol)
			}
			if n <= 0 {
				continue // "*0" and "*-1" are empty commands
			}
			if err := r.multibulk(int(n)); err != nil {
				return nil, err
			}
			if r.busy != nil {
				return nil, fmt.Errorf("%w: %w", ErrBusy, r.busy)
			}
		}
		for _, ref := range r.refs {
			if ref.big >= 0 {
				r.args = append(r.args, (*r.bigs[ref.big])[:ref.n])
			} else {
				r.args = append(r.args, r.arena[ref.off:ref.off+ref.n:ref.off+ref.n])
			}
		}
		if len(r.args) > 0 {
			return r.args, nil
		}
	}
}

// line reads one CRLF- (or LF-) terminated line without its terminator. The
// slice points into the read buffer and is valid until the next read.
func (r *Reader) line() ([]byte, error) {
	line, err := r.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: too big inline request", ErrProtocol)
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (r *Reader) multibulk(n int) error {
	var total int64
	for i := 0; i < n; i++ {
		line, err := r.line()
		if err != nil {
			return eofMidCommand(err)
		}
		if len(line) == 0 || line[0] != '$' {
			got := byte(' ')
			if len(line) > 0 {
				got = line[0]
			}
			return fmt.Errorf("%w: expected '$', got '%c'", ErrProtocol, got)
		}
		size, ok := parseInt(line[1:])
		if !ok || size < 0 || size > r.lim.MaxBulk {
			return fmt.Errorf("%w: invalid bulk length", ErrProtocol)
		}
		if r.Unauthenticated && size > preAuthBulk {
			return fmt.Errorf("%w: unauthenticated bulk length", ErrProtocol)
		}
		total += size
		if total > r.lim.MaxRequest {
			return fmt.Errorf("%w: request larger than %d bytes", ErrProtocol, r.lim.MaxRequest)
		}
		if i == 2 && n == 3 && r.StreamSet != nil && size >= r.streamMin() && r.busy == nil && r.isSet() {
			handled, err := r.stream(size)
			if err != nil {
				return err
			}
			if handled {
				return nil
			}
		}
		if i > 0 && r.Unauthenticated && !r.authCommand() {
			// Before AUTH every command but AUTH, HELLO and QUIT is
			// answered NOAUTH whatever its arguments say: skip them
			// without holding them (the command keeps only its name).
			if _, err := r.r.Discard(int(size)); err != nil {
				return eofMidCommand(err)
			}
			if err := r.crlf(); err != nil {
				return err
			}
			continue
		}
		if err := r.bulk(int(size)); err != nil {
			return err
		}
	}
	return nil
}

// authCommand reports whether the command read so far is one an
// unauthenticated client may send (AUTH, HELLO, QUIT; any case).
func (r *Reader) authCommand() bool {
	ref := r.refs[0]
	if ref.big >= 0 {
		return false
	}
	name := r.arena[ref.off : ref.off+ref.n]
	return bytes.EqualFold(name, []byte("AUTH")) || bytes.EqualFold(name, []byte("HELLO")) || bytes.EqualFold(name, []byte("QUIT"))
}

// bulk reads one bulk string body of size bytes plus its CRLF. Only now,
// with size checked, is memory set aside for it.
func (r *Reader) bulk(size int) error {
	if r.busy == nil {
		var err error
		if size >= bigArg {
			err = r.acquire(int64(size))
		} else if need := int64(len(r.arena)+size) - freeArena - r.arenaHeld; need > 0 {
			need = max(need, freeArena) // in steps, not per argument
			if err = r.acquire(need); err == nil {
				r.arenaHeld += need
			}
		}
		if err != nil {
			r.busy = err
		}
	}
	if r.busy != nil {
		// Refused: skip the value (and every later one of the command)
		// without holding it anywhere.
		if _, err := r.r.Discard(size); err != nil {
			return eofMidCommand(err)
		}
		return r.crlf()
	}
	if size >= bigArg {
		b := bufpool.Shared.Get(size)
		r.bigs = append(r.bigs, b)
		r.refs = append(r.refs, argRef{n: size, big: len(r.bigs) - 1})
		if err := r.readLarge(*b); err != nil {
			return eofMidCommand(err)
		}
		return r.crlf()
	}
	off := len(r.arena)
	r.arena = append(r.arena, make([]byte, size)...)
	r.refs = append(r.refs, argRef{off: off, n: size, big: -1})
	if _, err := io.ReadFull(r.r, r.arena[off:]); err != nil {
		return eofMidCommand(err)
	}
	return r.crlf()
}

// readLarge reads a large value through ReadFull.
func (r *Reader) readLarge(dst []byte) error {
	if r.ReadFull != nil {
		return r.ReadFull(r.r, dst)
	}
	_, err := io.ReadFull(r.r, dst)
	return err
}

func (r *Reader) streamMin() int64 {
	if r.StreamMin > 0 {
		return r.StreamMin
	}
	return bigArg
}

// isSet reports whether the command read so far starts with SET (any case).
func (r *Reader) isSet() bool {
	ref := r.refs[0]
	if ref.big >= 0 || ref.n != 3 {
		return false
	}
	b := r.arena[ref.off : ref.off+3]
	return (b[0]|0x20) == 's' && (b[1]|0x20) == 'e' && (b[2]|0x20) == 't'
}

// stream offers the third element (a value of size bytes) to StreamSet. It
// returns a connection error when the stream broke or was malformed.
func (r *Reader) stream(size int64) (bool, error) {
	ref := r.refs[1]
	var key []byte
	if ref.big >= 0 {
		key = (*r.bigs[ref.big])[:ref.n]
	} else {
		key = r.arena[ref.off : ref.off+ref.n : ref.off+ref.n]
	}
	called := false
	var connErr error
	fill := func(dst []byte) error {
		called = true
		if int64(len(dst)) != size {
			return fmt.Errorf("resp: stream fill got %d bytes for a %d-byte value", len(dst), size)
		}
		if err := r.readLarge(dst); err != nil {
			connErr = eofMidCommand(err)
			return connErr
		}
		connErr = r.crlf()
		return connErr
	}
	handled, err := r.StreamSet(key, size, fill)
	if !handled {
		if called {
			return false, fmt.Errorf("resp: StreamSet read the value but did not handle it")
		}
		return false, nil
	}
	if connErr != nil {
		return true, connErr
	}
	if !called {
		if _, err := r.r.Discard(int(size)); err != nil {
			return true, eofMidCommand(err)
		}
		if err := r.crlf(); err != nil {
			return true, err
		}
	}
	r.streamed, r.streamErr = true, err
	return true, nil
}

// crlf reads the CRLF that ends a bulk string.
func (r *Reader) crlf() error {
	var crlf [2]byte
	if _, err := io.ReadFull(r.r, crlf[:]); err != nil {
		return eofMidCommand(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return fmt.Errorf("%w: bulk string not terminated by CRLF", ErrProtocol)
	}
	return nil
}

// inline splits a human-typed command line on blanks, honouring double and
// single quotes so that `SET k "a b"` works as it does against Redis.
func (r *Reader) inline(line []byte) error {
	if len(line) > r.lim.MaxInline {
		return fmt.Errorf("%w: too big inline request", ErrProtocol)
	}
	i := 0
	for {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		if i == len(line) {
			return nil
		}
		if len(r.refs) >= r.lim.MaxArgs {
			return fmt.Errorf("%w: invalid multibulk length", ErrProtocol)
		}
		off := len(r.arena)
		if q := line[i]; q == '"' || q == '\'' {
			end := bytes.IndexByte(line[i+1:], q)
			if end < 0 {
				return fmt.Errorf("%w: unbalanced quotes in request", ErrProtocol)
			}
			r.arena = append(r.arena, line[i+1:i+1+end]...)
			i += end + 2
			if i < len(line) && !isBlank(line[i]) {
				return fmt.Errorf("%w: unbalanced quotes in request", ErrProtocol)
			}
		} else {
			start := i
			for i < len(line) && !isBlank(line[i]) {
				i++
			}
			r.arena = append(r.arena, line[start:i]...)
		}
		r.refs = append(r.refs, argRef{off: off, n: len(r.arena) - off, big: -1})
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// eofMidCommand: the client vanished inside a command, which is not the
// clean io.EOF between commands.
func eofMidCommand(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseInt parses a signed decimal of at most 18 digits (no overflow).
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// fill reads once from the connection into the free part of the buffer
// (an event loop's Step: the connection has input). A full buffer reads
// nothing.
func (r *Reader) fill() error {
	_, err := r.r.Peek(r.r.Buffered() + 1)
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil
	}
	return err
}

// peek reads until n bytes are buffered (n <= the buffer's size).
func (r *Reader) peek(n int) error {
	_, err := r.r.Peek(n)
	return err
}

// size is the read buffer's size.
func (r *Reader) size() int { return r.r.Size() }

// loopMaxBulk is the largest argument an event loop's Step executes: below
// bigArg, no argument draws on the budget or streams (those may wait).
const loopMaxBulk = bigArg - 1

// nextCommand looks at the buffered bytes for the command that starts
// them, without consuming anything: whole reports that all need bytes of
// it are buffered; otherwise need is at least how many must be. ok is
// false for what a Step leaves to the blocking path: an argument over
// maxBulk, more than 64 arguments, an empty command, or anything
// malformed (ReadCommand answers it).
func (r *Reader) nextCommand(maxBulk int) (need int, whole, ok bool) {
	b, _ := r.r.Peek(r.r.Buffered())
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return len(b) + 1, false, true
	}
	if b[0] != '*' {
		if len(bytes.TrimSpace(b[:i])) == 0 {
			return 0, false, false
		}
		return i + 1, true, true // an inline command: one line
	}
	n, good := parseInt(bytes.TrimSuffix(b[1:i], []byte{'\r'}))
	if !good || n <= 0 || n > 64 || n > int64(r.lim.MaxArgs) || (r.Unauthenticated && n > preAuthArgs) {
		return 0, false, false
	}
	if r.Unauthenticated {
		maxBulk = min(maxBulk, preAuthBulk)
	}
	pos := i + 1
	for range n {
		if pos >= len(b) {
			return pos + 1, false, true
		}
		if b[pos] != '$' {
			return 0, false, false
		}
		j := bytes.IndexByte(b[pos:], '\n')
		if j < 0 {
			if len(b)-pos > 32 {
				return 0, false, false
			}
			return len(b) + 1, false, true
		}
		size, good := parseInt(bytes.TrimSuffix(b[pos+1:pos+j], []byte{'\r'}))
		if !good || size < 0 || size > int64(maxBulk) {
			return 0, false, false
		}
		pos += j + 1 + int(size) + 2
	}
	return pos, pos <= len(b), true
}

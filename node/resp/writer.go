package resp

import (
	"io"
	"net"
	"strconv"
)

// directWrite is the size from which a bulk value is not copied into the
// reply buffer but handed to the kernel beside it in one writev.
const directWrite = 32 << 10

// flushAt is the buffered reply size at which the Writer sends what it has
// without waiting for the end of a pipelined batch: it bounds the reply
// bytes one connection holds (an MGET of thousands of small values).
const flushAt = 256 << 10

// maxKeptReply is the reply-buffer capacity a connection keeps between
// flushes (a large MGET reply must not pin memory for the connection's life).
const maxKeptReply = 1 << 20

// Writer encodes RESP2 replies into a buffer and writes it to the
// connection on Flush, or earlier when a large value goes out directly.
// It is not safe for concurrent use. After a write error every later call
// is a no-op and Flush returns the error.
type Writer struct {
	w   io.Writer
	buf []byte
	err error
	vec net.Buffers
	arr [3][]byte // backing array of vec: WriteTo consumes vec, not arr
}

// NewWriter writes replies to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w} // the buffer grows with the replies: an idle connection holds none
}

// Err is the first write error.
func (w *Writer) Err() error { return w.err }

// Buffered is the number of reply bytes waiting for Flush.
func (w *Writer) Buffered() int { return len(w.buf) }

// Flush writes the buffered replies.
func (w *Writer) Flush() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	_, w.err = w.w.Write(w.buf)
	w.reset()
	return w.err
}

func (w *Writer) reset() {
	if cap(w.buf) > maxKeptReply {
		w.buf = nil
	}
	w.buf = w.buf[:0]
}

// Simple writes "+s".
func (w *Writer) Simple(s string) {
	w.buf = append(w.buf, '+')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// OK writes "+OK".
func (w *Writer) OK() { w.buf = append(w.buf, "+OK\r\n"...) }

// Error writes "-msg"; msg starts with the error kind (ERR, NOAUTH, ...).
// Line breaks in msg are replaced so the reply stays one line.
func (w *Writer) Error(msg string) {
	w.buf = append(w.buf, '-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		w.buf = append(w.buf, c)
	}
	w.buf = append(w.buf, '\r', '\n')
}

// Int writes ":n".
func (w *Writer) Int(n int64) {
	w.buf = append(w.buf, ':')
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
}

// Null writes the null bulk string "$-1".
func (w *Writer) Null() { w.buf = append(w.buf, "$-1\r\n"...) }

// NullArray writes the null array "*-1".
func (w *Writer) NullArray() { w.buf = append(w.buf, "*-1\r\n"...) }

// Array writes an array header of n elements; the elements follow.
func (w *Writer) Array(n int) {
	w.buf = append(w.buf, '*')
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	w.buf = append(w.buf, '\r', '\n')
}

// BulkString writes s as a bulk string.
func (w *Writer) BulkString(s string) {
	w.bulkHeader(len(s))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// Bulk writes b as a bulk string. A large b is written to the connection
// before Bulk returns (together with everything buffered, in one writev), so
// the caller may release b's memory as soon as Bulk returns.
func (w *Writer) Bulk(b []byte) {
	w.bulkHeader(len(b))
	if len(b) < directWrite {
		w.buf = append(w.buf, b...)
		w.buf = append(w.buf, '\r', '\n')
		if len(w.buf) >= flushAt {
			_ = w.Flush()
		}
		return
	}
	if w.err != nil {
		return
	}
	w.arr = [3][]byte{w.buf, b, crlf}
	if bw, ok := w.w.(buffersWriter); ok {
		w.err = bw.WriteBuffers(w.arr[:])
	} else {
		w.vec = w.arr[:]
		_, w.err = w.vec.WriteTo(w.w)
	}
	w.arr = [3][]byte{}
	w.reset()
}

// buffersWriter writes pieces with writev (connserver.Conn, which also
// arms the write deadline per chunk).
type buffersWriter interface{ WriteBuffers(pieces [][]byte) error }

var crlf = []byte{'\r', '\n'}

func (w *Writer) bulkHeader(n int) {
	w.buf = append(w.buf, '$')
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	w.buf = append(w.buf, '\r', '\n')
}

// Raw appends bytes that are already RESP-encoded.
func (w *Writer) Raw(b []byte) { w.buf = append(w.buf, b...) }

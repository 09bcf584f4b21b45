package resp

import (
	"bytes"
	"io"
	"testing"
)

// Large plain SETs go from the socket into the tier (Reader.StreamSet);
// the edges of that path: refused before reading (the stream stays in
// step), a broken value (nothing stored), and the cases it declines
// (NOAUTH, MULTI, SET with options) answered as before.
func TestStreamedSet(t *testing.T) {
	eng := newEngine(t, 8<<20)
	_, addr := startServer(t, Config{Engine: eng, AuthToken: "tok"})
	c := dial(t, addr)
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB

	// Before AUTH a value over 16 KiB is refused before anything is
	// allocated for it, and the connection is closed (Redis since 6.2).
	// The write goes on its own goroutine and its error is not checked:
	// the server answers and closes as soon as it has read the length, so
	// the rest of the client's write may meet a reset (broken pipe) — the
	// reply is what is tested.
	go func() { _, _ = c.nc.Write(encode("SET", "k", big)) }()
	expectErr(t, c.reply(), "ERR Protocol error: unauthenticated bulk length")
	c = dial(t, addr)
	expectErr(t, c.do("SET", "k", "small"), "NOAUTH")
	expect(t, c.do("AUTH", "tok"), "OK")
	expect(t, c.do("set", "k", big), "OK")
	expect(t, c.do("GET", "k"), big)
	expect(t, c.do("STRLEN", "k"), int64(len(big)))

	// Over the tier's capacity: refused before any byte is read; the value
	// is skipped and the next command on the connection works.
	huge := make([]byte, 9<<20)
	go func() { _, _ = c.nc.Write(encode("SET", "huge", huge)) }()
	expectErr(t, c.reply(), "ERR value too large")
	expect(t, c.do("EXISTS", "huge"), int64(0))
	expect(t, c.do("PING"), "PONG")

	// Inside MULTI the value is queued, not stored at once.
	expect(t, c.do("MULTI"), "OK")
	expect(t, c.do("SET", "tx", big), "QUEUED")
	expect(t, c2exists(t, addr, "tx"), int64(0))
	expect(t, c.do("EXEC"), []any{"OK"})
	expect(t, c.do("GET", "tx"), big)

	// With options the value goes through the ordinary path.
	expect(t, c.do("SET", "nx", big, "NX"), "OK")
	expect(t, c.do("SET", "nx", big[:100], "NX"), nil)
	expect(t, c.do("STRLEN", "nx"), int64(len(big)))

	// A value not followed by CRLF: protocol error, connection closed,
	// nothing stored.
	c2 := dial(t, addr)
	expect(t, c2.do("AUTH", "tok"), "OK")
	bad := encode("SET", "bad", big)
	bad[len(bad)-2] = 'x'
	if _, err := c2.nc.Write(bad); err != nil {
		t.Fatal(err)
	}
	expectErr(t, c2.reply(), "ERR Protocol error: bulk string not terminated")
	if _, err := c2.r.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed: %v", err)
	}
	// A client that vanishes mid-value leaves nothing.
	c3 := dial(t, addr)
	expect(t, c3.do("AUTH", "tok"), "OK")
	half := encode("SET", "half", big)
	if _, err := c3.nc.Write(half[:len(half)/2]); err != nil {
		t.Fatal(err)
	}
	_ = c3.nc.Close()
	expect(t, c.do("PING"), "PONG")
	for _, k := range []string{"bad", "half"} {
		// Whether or not the server has seen c3 go yet, a value that was
		// never completed is never published.
		expect(t, c.do("EXISTS", k), int64(0))
	}
}

// c2exists asks EXISTS key on a fresh authenticated connection.
func c2exists(t *testing.T, addr, key string) any {
	t.Helper()
	c := dial(t, addr)
	expect(t, c.do("AUTH", "tok"), "OK")
	return c.do("EXISTS", key)
}

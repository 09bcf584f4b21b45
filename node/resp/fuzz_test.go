package resp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader parses arbitrary bytes as a command stream within small
// limits: it must never panic, and every command it returns must respect
// the limits.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
		"PING\r\nSET \"a b\" 'c'\r\n\r\n",
		"*2\r\n$3\r\nGET\r\n$-1\r\n",
		"*999999999999\r\n",
		"*1\r\n$99999999999999999999\r\n",
		"*2\r\n$3\r\nGET\r\n:1\r\n",
		"*1\r\n$3\r\nabcXY",
		"\"unbalanced\r\n",
		"\x00\xff\r\n",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxBulk: 1024, MaxRequest: 4096, MaxArgs: 16, MaxInline: 256}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), lim)
		defer r.Close()
		for range 64 {
			args, err := r.ReadCommand()
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrProtocol) {
					return
				}
				t.Fatalf("unexpected error class: %v", err)
			}
			if len(args) == 0 || len(args) > lim.MaxArgs {
				t.Fatalf("%d args", len(args))
			}
			var total int64
			for _, a := range args {
				if int64(len(a)) > lim.MaxBulk {
					t.Fatalf("arg of %d bytes over the limit", len(a))
				}
				total += int64(len(a))
			}
			if total > lim.MaxRequest {
				t.Fatalf("command of %d bytes over the limit", total)
			}
		}
	})
}

// FuzzReaderStreamSet checks the streamed-SET path against the ordinary
// one: the same bytes read with a StreamSet hook (taking values of 4 bytes
// and more whose key starts with an odd byte, declining the rest) give the
// same commands, with the same values, and end in the same error class.
func FuzzReaderStreamSet(f *testing.F) {
	for _, s := range []string{
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nset\r\n$1\r\na\r\n$6\r\nhello!\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$4\r\nabcd\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhelloXY",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9\r\nhel",
		"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n$2\r\nNX\r\n",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxBulk: 1024, MaxRequest: 4096, MaxArgs: 16, MaxInline: 256}
	type result struct {
		cmds [][][]byte
		err  error
	}
	class := func(err error) string {
		switch {
		case err == nil:
			return "nil"
		case errors.Is(err, io.EOF):
			return "eof"
		case errors.Is(err, io.ErrUnexpectedEOF):
			return "unexpected eof"
		case errors.Is(err, ErrProtocol):
			return "protocol"
		}
		return "other: " + err.Error()
	}
	read := func(data []byte, stream bool) result {
		r := NewReader(bytes.NewReader(data), lim)
		defer r.Close()
		var value []byte
		if stream {
			r.StreamMin = 4
			r.StreamSet = func(key []byte, n int64, fill func([]byte) error) (bool, error) {
				if len(key) == 0 || key[0]&1 == 0 {
					return false, nil
				}
				value = make([]byte, n)
				return true, fill(value)
			}
		}
		var res result
		for range 64 {
			args, err := r.ReadCommand()
			if err != nil {
				res.err = err
				return res
			}
			var cmd [][]byte
			for _, a := range args {
				cmd = append(cmd, bytes.Clone(a))
			}
			if ok, serr := r.Streamed(); ok {
				if serr != nil || len(cmd) != 2 {
					res.err = errors.New("streamed command: bad shape or error")
					return res
				}
				cmd = append(cmd, value)
			}
			res.cmds = append(res.cmds, cmd)
		}
		return res
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, streamed := read(data, false), read(data, true)
		if len(plain.cmds) != len(streamed.cmds) {
			t.Fatalf("%d commands plain, %d streamed", len(plain.cmds), len(streamed.cmds))
		}
		for i := range plain.cmds {
			a, b := plain.cmds[i], streamed.cmds[i]
			if len(a) != len(b) {
				t.Fatalf("command %d: %q vs %q", i, a, b)
			}
			for j := range a {
				if !bytes.Equal(a[j], b[j]) {
					t.Fatalf("command %d arg %d: %q vs %q", i, j, a[j], b[j])
				}
			}
		}
		if class(plain.err) != class(streamed.err) {
			t.Fatalf("errors differ: %v vs %v", plain.err, streamed.err)
		}
	})
}

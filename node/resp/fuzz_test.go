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

package resp

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"testing"
)

// benchRoundTrips sends one command per round trip (no pipelining), as
// redis-benchmark does without -P, and reads replies of replySize bytes.
func benchRoundTrips(b *testing.B, cmd []byte, replyLen int) {
	_, addr := startServer(b, Config{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	reply := make([]byte, replyLen)
	b.ReportAllocs()
	b.SetBytes(int64(len(cmd)))
	for b.Loop() {
		if _, err := nc.Write(cmd); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(br, reply); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet4KiB(b *testing.B) {
	value := make([]byte, 4096)
	_, addr := startServer(b, Config{})
	_ = addr
	setCmd := encode("SET", "k", value)
	getCmd := encode("GET", "k")
	b.Run("set", func(b *testing.B) { benchRoundTrips(b, setCmd, len("+OK\r\n")) })
	b.Run("get", func(b *testing.B) {
		_, addr := startServer(b, Config{})
		nc, _ := net.Dial("tcp", addr)
		_, _ = nc.Write(setCmd)
		_, _ = io.ReadFull(nc, make([]byte, 5))
		_ = nc.Close()
		br := fmt.Sprintf("$%d\r\n", len(value))
		nc2, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer nc2.Close()
		r := bufio.NewReaderSize(nc2, 64<<10)
		reply := make([]byte, len(br)+len(value)+2)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := nc2.Write(getCmd); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, reply); err != nil {
				b.Fatal(err)
			}
		}
	})
}

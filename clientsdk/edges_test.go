package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node"
	"github.com/stratacache/stratacache/placement"
)

// startNode runs a real node (node.New: engine, native and RESP servers)
// in this process on loopback ports, with what edit changes.
func startNode(t *testing.T, edit func(*node.Config)) *node.Node {
	t.Helper()
	cfg := node.Defaults()
	cfg.CPUCapacityMB = 64
	cfg.Disk.CapacityMB = 0
	cfg.Telemetry.Export = false
	cfg.Listen = node.ListenConfig{RESP: "127.0.0.1:0", Native: "127.0.0.1:0"}
	if edit != nil {
		edit(&cfg)
	}
	n, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n
}

// idHomedAt returns a blob id whose rendezvous home among addrs is want.
func idHomedAt(t *testing.T, want string, addrs ...string) artifact.ID {
	t.Helper()
	for i := 0; i < 1000; i++ {
		id := blob(fmt.Sprintf("k%d", i))
		if placement.Home(id.Hash, addrs) == want {
			return id
		}
	}
	t.Fatal("no id homed at", want)
	return artifact.ID{}
}

// An oversize Put, larger than the socket buffers, against a node's
// payload limit (64 MiB + 1 and 200 MiB against the default 64 MiB, 40
// MiB against 1 MiB), and an MPut over max_request: the node answers
// too_large before it closes, the SDK returns ErrTooLarge and sends the
// payload nowhere else. Checked with the SDK's own limit check (from
// HELLO) off, so that the node's answer is what is tested, and on.
func TestOversizePutIsTooLarge(t *testing.T) {
	small := startNode(t, func(c *node.Config) { c.Limits.MaxPayloadMB, c.Limits.MaxRequestMB = 1, 2 })
	dflt := startNode(t, nil)
	big := make([]byte, 200<<20)
	cases := []struct {
		n    *node.Node
		size int
	}{{small, 40 << 20}, {dflt, 64<<20 + 1}, {dflt, 200 << 20}}
	if raceOn || testing.Short() {
		cases = cases[:1]
	}
	for _, check := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("hello-check=%v/%d", check, tc.size), func(t *testing.T) {
				other := startFake(t)
				a := tc.n.Addrs().Native
				c := newClient(t, WithNodes(a, other.Addr()), WithRetries(2, time.Millisecond, time.Millisecond))
				c.o.skipLimitCheck = !check
				id := idHomedAt(t, a, a, other.Addr())
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				err := c.Put(ctx, id, big[:tc.size])
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("put of %d bytes: %v, want ErrTooLarge", tc.size, err)
				}
				if !check && !strings.Contains(err.Error(), "frame: length over limit") {
					t.Fatalf("not the node's answer: %v", err)
				}
				// The same through a NodeClient (placement control).
				if err := c.On(a).Put(ctx, id, big[:tc.size]); !errors.Is(err, ErrTooLarge) {
					t.Fatalf("On(node).Put of %d bytes: %v, want ErrTooLarge", tc.size, err)
				}
				if tc.n == small {
					ids := []artifact.ID{id, blob("b1"), blob("b2")}
					mb := big[:1<<20]
					one := newClient(t, WithNodes(a))
					one.o.skipLimitCheck = !check
					if _, err := one.MPut(ctx, ids, [][]byte{mb, mb, mb}); !errors.Is(err, ErrTooLarge) {
						t.Fatalf("MPut of 3 MiB against max_request 2 MiB: %v, want ErrTooLarge", err)
					}
				}
				if other.Accepted() != 0 {
					t.Fatalf("the payload was resent to another node (%d connections)", other.Accepted())
				}
				// The node is still usable, and so is the client.
				if err := c.Put(ctx, id, []byte("small")); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// A wrong address is ErrUnavailable, naming the address.
func TestWrongAddressIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	c := newClient(t, WithNodes(addr), WithRetries(1, time.Millisecond, time.Millisecond))
	_, err = c.Get(context.Background(), nil, blob("x"))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("get from a closed port: %v, want ErrUnavailable naming %s", err, addr)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("the network error is not kept: %v", err)
	}
}

// A client pointed at the node's RESP port (or anything that is not the
// native protocol) fails the handshake with ErrProtocol within a second.
func TestRESPPortIsProtocolError(t *testing.T) {
	n := startNode(t, nil)
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts and says nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			nc, err := silent.Accept()
			if err != nil {
				return
			}
			defer nc.Close()
		}
	}()
	for _, addr := range []string{n.Addrs().RESP, silent.Addr().String()} {
		c := newClient(t, WithNodes(addr))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		_, err := c.Get(ctx, nil, blob("x"))
		took := time.Since(t0)
		cancel()
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("%s: %v, want ErrProtocol", addr, err)
		}
		// Not a timed assertion of speed: the handshake bound is 1 s and
		// the caller's deadline 10 s; a hang reaches the latter.
		if took > 5*time.Second {
			t.Fatalf("%s: took %v (the handshake bound is 1 s)", addr, took)
		}
	}
}

// What a node says in HELLO is exposed (remote and embedded alike), and
// checked against the client's HashConfig: a disagreement fails the
// connection with ErrSettings, or is reported once with
// WithSettingsWarning.
func TestSettingsExposedAndChecked(t *testing.T) {
	n := startNode(t, func(c *node.Config) { c.ChunkSize = 256 })
	addr := n.Addrs().Native
	ctx := context.Background()
	c := newClient(t, WithNodes(addr))
	s, err := c.Settings(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if s.Server != "stratacache" || s.ChunkSize != 256 || s.SavePartialChunks || s.HashScheme != SchemeStrataCache ||
		s.MaxPayload != 64<<20 || s.MaxRequest != 256<<20 || s.MaxBatch != 4096 || s.Version != 1 {
		t.Fatalf("settings %+v", s)
	}
	emb := newClient(t, WithEmbedded(n))
	es, err := emb.Settings(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(es.Attrs) != fmt.Sprint(s.Attrs) {
		t.Fatalf("embedded settings %v, HELLO says %v", es.Attrs, s.Attrs)
	}

	other := startFake(t)
	bad := newClient(t, WithNodes(addr, other.Addr()), WithHashConfig(HashConfig{Model: "m"})) // blocks of 16
	id := idHomedAt(t, addr, addr, other.Addr())
	err = bad.Put(ctx, id, []byte("x"))
	if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), "chunk_size is 256") {
		t.Fatalf("put with 16-token blocks against chunk_size 256: %v, want ErrSettings", err)
	}
	if other.Accepted() != 0 {
		t.Fatal("a settings mismatch was retried on another node")
	}
	if _, err := New(WithEmbedded(n), WithHashConfig(HashConfig{Model: "m"})); !errors.Is(err, ErrSettings) {
		t.Fatalf("embedded with 16-token blocks against chunk_size 256: %v, want ErrSettings", err)
	}
	var warnings []error
	var mu sync.Mutex
	warn := newClient(t, WithNodes(addr), WithHashConfig(HashConfig{Model: "m"}),
		WithSettingsWarning(func(a string, err error) { mu.Lock(); warnings = append(warnings, err); mu.Unlock() }))
	for i := 0; i < 3; i++ {
		if err := warn.Put(ctx, blob(fmt.Sprint(i)), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if len(warnings) != 1 || !errors.Is(warnings[0], ErrSettings) {
		t.Fatalf("warnings %v, want one ErrSettings", warnings)
	}
	good := newClient(t, WithNodes(addr), WithHashConfig(HashConfig{Model: "m", BlockSizes: []int{16, 256}}))
	if err := good.Put(ctx, id, []byte("x")); err != nil {
		t.Fatal(err)
	}

	// Every disagreement is named.
	f := startFake(t)
	f.SetSettings(map[string]string{"chunk_size": "16", "save_partial_chunks": "true", "hash_scheme": "vllm"})
	fc := newClient(t, WithNodes(f.Addr()), WithHashConfig(HashConfig{Model: "m"}))
	err = fc.Put(ctx, id, []byte("x"))
	if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), "save_partial_chunks") || !strings.Contains(err.Error(), `"vllm"`) ||
		strings.Contains(err.Error(), "chunk_size") {
		t.Fatalf("mismatch: %v", err)
	}
	// Settings that do not parse are the peer breaking the protocol.
	f.SetSettings(map[string]string{"max_payload": "lots"})
	if err := newClient(t, WithNodes(f.Addr())).Put(ctx, id, nil); !errors.Is(err, ErrProtocol) {
		t.Fatalf("unreadable settings: %v, want ErrProtocol", err)
	}
}

// Embedded and remote modes return the same sentinels and texts.
func TestEmbeddedAndRemoteAnswerAlike(t *testing.T) {
	n := startNode(t, func(c *node.Config) { c.CPUCapacityMB = 8; c.Limits.MaxPayloadMB = 16; c.Limits.MaxRequestMB = 16 })
	ctx := context.Background()
	remote := newClient(t, WithNodes(n.Addrs().Native))
	emb := newClient(t, WithEmbedded(n))
	same := func(what string, want error, f func(c *Client) error) {
		t.Helper()
		re, ee := f(remote), f(emb)
		if !errors.Is(re, want) || !errors.Is(ee, want) {
			t.Fatalf("%s: remote %v, embedded %v, want %v", what, re, ee, want)
		}
		if re.Error() != ee.Error() {
			t.Fatalf("%s: texts differ:\nremote   %v\nembedded %v", what, re, ee)
		}
	}
	missing := blob("missing")
	same("get of a missing id", ErrNotFound, func(c *Client) error { _, err := c.Get(ctx, nil, missing); return err })
	big := make([]byte, 17<<20)
	same("put over max_payload", ErrTooLarge, func(c *Client) error { return c.Put(ctx, blob("big"), big) })
	same("mput over max_request", ErrTooLarge, func(c *Client) error {
		_, err := c.MPut(ctx, []artifact.ID{blob("m1"), blob("m2")}, [][]byte{big[:9<<20], big[:9<<20]})
		return err
	})
	same("put over the tiers", ErrTooLarge, func(c *Client) error { return c.Put(ctx, blob("tier"), big[:12<<20]) })
	for _, c := range []*Client{remote, emb} {
		if ok, err := c.Exists(ctx, missing); ok || err != nil {
			t.Fatalf("exists: %v %v", ok, err)
		}
		if ok, err := c.Delete(ctx, missing); ok || err != nil {
			t.Fatalf("delete: %v %v", ok, err)
		}
	}
}

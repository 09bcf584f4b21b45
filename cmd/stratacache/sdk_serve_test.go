package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
)

// serveProc is one `stratacache serve` process of a test (this test
// binary run as the real command) with the addresses it printed.
type serveProc struct {
	name                              string
	cmd                               *exec.Cmd
	resp, native, admin, gossip, peer string
	mu                                sync.Mutex
	log                               strings.Builder
	done                              chan struct{}
}

var (
	addrLine = regexp.MustCompile(`^resp=(\S+) native=(\S+) admin=(\S*)$`)
	nodeLine = regexp.MustCompile(`^node=\S+ gossip=(\S+) peer=(\S+)$`)
)

// startMember runs a clustered node named name on the given addresses
// ("127.0.0.1:0" for any), joining join when set, and waits until it has
// printed its addresses. It returns nil when a fixed address is in use.
func startMember(t *testing.T, dir, name, join string, addrs ...string) *serveProc {
	t.Helper()
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}
	}
	args := []string{"serve", "-resp-addr", addrs[0], "-native-addr", addrs[1], "-admin-addr", "",
		"-cluster-bind", addrs[2], "-cluster-peer", addrs[3], "-node-name", name,
		"-data-dir", filepath.Join(dir, name), "-cpu-capacity-mb", "96"}
	if join != "" {
		args = append(args, "-join", join)
	}
	p := &serveProc{name: name, cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), runAsMainEnv+"=1", "STRATACACHE_DISK_CAPACITY_MB=0", "STRATACACHE_CLUSTER_PRESET=local",
		"STRATACACHE_TELEMETRY_EXPORT=false")
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{p: p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if m := addrLine.FindStringSubmatch(line); m != nil {
				p.resp, p.native, p.admin = m[1], m[2], m[3]
			}
			if m := nodeLine.FindStringSubmatch(line); m != nil {
				p.gossip, p.peer = m[1], m[2]
				close(ready)
			}
			p.mu.Unlock()
		}
	}()
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.logText())
		}
	})
	select {
	case <-ready:
	case <-p.done:
		if strings.Contains(p.logText(), "address already in use") {
			return nil // a fixed address taken meanwhile by another process
		}
		t.Fatalf("%s exited before serving:\n%s", name, p.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not print its addresses:\n%s", name, p.logText())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p
}

// kill SIGKILLs the process and waits for it.
func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func (p *serveProc) logText() string { p.mu.Lock(); defer p.mu.Unlock(); return p.log.String() }

type lockedWriter struct{ p *serveProc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.log.Write(b)
}

// The SDK's edges against three real `serve` processes: an oversize Put
// is ErrTooLarge and goes nowhere else; the RESP port is ErrProtocol and
// a closed port ErrUnavailable; a SIGKILLed node is out of the very next
// ScoreNodes once a sync or a request fails, its chunks read as
// ErrUnavailable (a miss with WithUnavailableAsMiss), and when it comes
// back on its addresses it is back in the scores.
func TestSDKAgainstServeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four serve processes")
	}
	dir := t.TempDir()
	n1 := startMember(t, dir, "n1", "")
	n2 := startMember(t, dir, "n2", n1.gossip)
	n3 := startMember(t, dir, "n3", n1.gossip)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	until := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(20 * time.Millisecond): // polling a condition
			}
		}
	}

	hc := clientsdk.HashConfig{Model: "m", BlockSizes: []int{256}}
	ix := clientsdk.NewIndex(clientsdk.DefaultScoreConfig())
	ix.SetRetryPolicy(clientsdk.RetryPolicy{Base: 50 * time.Millisecond, Max: 400 * time.Millisecond})
	c, err := clientsdk.New(clientsdk.WithNodes(n1.native), clientsdk.WithIndex(ix), clientsdk.WithHashConfig(hc))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fold, err := clientsdk.New(clientsdk.WithIndex(ix), clientsdk.WithUnavailableAsMiss())
	if err != nil {
		t.Fatal(err)
	}
	defer fold.Close()
	f := clientsdk.NewFollower(ix, c, clientsdk.NodeMembers(c, n1.native))
	until("the three members with their native addresses", func() bool {
		if f.Sync(ctx) != nil || len(ix.Members()) != 3 {
			return false
		}
		for _, m := range ix.Members() {
			if m.Addr == "" {
				return false
			}
		}
		return true
	})

	// Errors.
	big := make([]byte, 64<<20+1)
	if err := c.Put(ctx, chunkID(t, hc, 0), big); !errors.Is(err, clientsdk.ErrTooLarge) {
		t.Fatalf("put of 64 MiB + 1: %v, want ErrTooLarge", err)
	}
	resp, _ := clientsdk.New(clientsdk.WithNodes(n1.resp))
	defer resp.Close()
	if _, err := resp.Get(ctx, nil, chunkID(t, hc, 0)); !errors.Is(err, clientsdk.ErrProtocol) {
		t.Fatalf("client on the RESP port: %v, want ErrProtocol", err)
	}
	if s, err := c.Settings(ctx, "n2"); err != nil || s.ChunkSize != 256 || s.MaxPayload != 64<<20 || s.HashScheme != "stratacache" {
		t.Fatalf("n2's settings: %+v, %v", s, err)
	}

	// Placement: a prompt's chunks stored on n2; the scores follow.
	tokens := make([]uint32, 1024)
	for i := range tokens {
		tokens[i] = uint32(i)
	}
	h, _ := clientsdk.NewHasher(hc)
	var p clientsdk.Prompt
	_ = h.Hash(&p, tokens)
	for i, ph := range p.Levels[0].Hashes {
		id, _ := h.ChunkID(ph)
		if err := c.On("n2").Put(ctx, id, []byte(fmt.Sprint("kv", i))); err != nil {
			t.Fatal(err)
		}
	}
	until("n2 first in the scores", func() bool {
		sc, err := c.Scores(ctx, tokens)
		return f.Sync(ctx) == nil && err == nil && sc[0].Node == "n2" && sc[0].LocalTokens == 1024
	})
	id0, _ := h.ChunkID(p.Levels[0].Hashes[0])

	// n2 is SIGKILLed. Its peers still list it (gossip takes seconds), but
	// the next sync cannot reach it: it is out of the next ScoreNodes.
	n2.kill(t)
	if err := f.Sync(ctx); !errors.Is(err, clientsdk.ErrUnavailable) || !strings.Contains(err.Error(), "n2") {
		t.Fatalf("sync after the kill: %v, want ErrUnavailable naming n2", err)
	}
	sc := ix.ScoreNodes(nil, &p, nil)
	var got []string
	for _, s := range sc {
		got = append(got, s.Node)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"n1", "n3"}) {
		t.Fatalf("ScoreNodes after the kill lists %v", got)
	}
	if _, err := c.Get(ctx, nil, id0); !errors.Is(err, clientsdk.ErrUnavailable) || errors.Is(err, clientsdk.ErrNotFound) {
		t.Fatalf("get of a chunk on the killed node: %v, want ErrUnavailable", err)
	}
	if _, err := fold.Get(ctx, nil, id0); !errors.Is(err, clientsdk.ErrNotFound) {
		t.Fatalf("get with WithUnavailableAsMiss: %v, want ErrNotFound", err)
	}
	if err := c.On("n3").Put(ctx, chunkID(t, hc, 7), []byte("x")); err != nil {
		t.Fatalf("the others still serve: %v", err)
	}

	// n2 comes back on its addresses (empty: its memory tier died with
	// it); after its retry backoff a sync reaches it and it is back.
	if again := startMember(t, dir, "n2", n1.gossip, n2.resp, n2.native, n2.gossip, n2.peer); again == nil {
		// Another process took one of its ports meanwhile (the machine
		// is shared): it comes back on new ones, which the gossip
		// learns once the old n2 is declared dead.
		t.Log("n2's old ports are taken; restarting it on new ones")
		startMember(t, dir, "n2", n1.gossip)
	}
	until("n2 back in the scores", func() bool {
		_ = f.Sync(ctx)
		for _, s := range ix.ScoreNodes(nil, &p, nil) {
			if s.Node == "n2" {
				return !ix.Down("n2")
			}
		}
		return false
	})
	// The follower reaches n2 by its address as soon as it listens; the
	// client's member table learns n2's native address from the gossip a
	// moment later (CI: "member n2 has no native address yet" right after
	// the restart). Unavailable until then; any other error fails.
	until("a put on the restarted n2", func() bool {
		err := c.On("n2").Put(ctx, id0, []byte("again"))
		if err != nil && !errors.Is(err, clientsdk.ErrUnavailable) {
			t.Fatal(err)
		}
		return err == nil
	})
	_ = n3
}

func chunkID(t *testing.T, hc clientsdk.HashConfig, i int) artifact.ID {
	t.Helper()
	h, err := clientsdk.NewHasher(hc)
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.ChunkID(uint64(i) * 0x9e3779b97f4a7c15)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

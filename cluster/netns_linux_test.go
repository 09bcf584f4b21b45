//go:build linux

package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/tiers"
	"github.com/stratacache/stratacache/tiers/tiertest"
)

// The multi-process test: three node processes (this test binary re-run
// as TestNetnsChild) in network namespaces made by the test, joined by
// veth pairs on a bridge in a fourth namespace; one is cut off with
// `ip link set down`, then restored. Traffic stays inside the namespaces.
// Root only; it skips with a message elsewhere. The parent drives each
// child over its stdin/stdout, one command per line.

const netnsChildEnv = "STRATACACHE_NETNS_CHILD"

func TestNetnsThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process namespace test")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (ip netns)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	tag := strconv.Itoa(os.Getpid() % 100000)
	br := "scb" + tag
	ns := func(i int) string { return fmt.Sprintf("sc%d-%s", i, tag) }
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ip("netns", "add", br); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() {
		for i := 1; i <= 3; i++ {
			_ = ip("netns", "del", ns(i))
			_ = ip("link", "del", fmt.Sprintf("v%d-%s", i, tag)) // if setup stopped before moving it
		}
		_ = ip("netns", "del", br)
	})
	// Building the topology only needs what `ip netns add` already proved;
	// a failure here is the environment's (no bridge/veth support): skip.
	setup := func(args ...string) {
		t.Helper()
		if err := ip(args...); err != nil {
			t.Skipf("cannot build the test network here: %v", err)
		}
	}
	must := func(args ...string) {
		t.Helper()
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	setup("-n", br, "link", "add", "br0", "type", "bridge")
	setup("-n", br, "link", "set", "br0", "up")
	for i := 1; i <= 3; i++ {
		veth, peer := fmt.Sprintf("v%d-%s", i, tag), fmt.Sprintf("b%d-%s", i, tag)
		setup("netns", "add", ns(i))
		setup("link", "add", veth, "type", "veth", "peer", "name", peer)
		setup("link", "set", veth, "netns", ns(i))
		setup("link", "set", peer, "netns", br)
		setup("-n", br, "link", "set", peer, "master", "br0")
		setup("-n", br, "link", "set", peer, "up")
		setup("-n", ns(i), "addr", "add", fmt.Sprintf("10.77.0.%d/24", i), "dev", veth)
		setup("-n", ns(i), "link", "set", veth, "up")
		setup("-n", ns(i), "link", "set", "lo", "up")
	}
	var kids []*netnsChild
	for i := 1; i <= 3; i++ {
		k, err := startNetnsChild(ns(i), fmt.Sprintf("n%d", i), fmt.Sprintf("10.77.0.%d", i), "10.77.0.1:7946")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(k.stop)
		kids = append(kids, k)
	}
	until := func(within time.Duration, what string, cond func() bool) {
		t.Helper()
		waitFor(t, within, what, cond)
	}
	allSee := func(ks []*netnsChild, cmd, want string) func() bool {
		return func() bool {
			for _, k := range ks {
				if got, err := k.do(cmd); err != nil || got != want {
					return false
				}
			}
			return true
		}
	}
	until(20*time.Second, "three members everywhere", allSee(kids, "members", "3"))
	if got, err := kids[2].do("store k3 1048576"); err != nil || got != "ok" {
		t.Fatalf("store on n3: %q %v", got, err)
	}
	until(10*time.Second, "n3's entry on n1 and n2", allSee(kids[:2], "owner k3", "n3"))
	if got, err := kids[0].do("load k3"); err != nil || got != "hit 1048576" {
		t.Fatalf("remote load across namespaces: %q %v", got, err)
	}
	// Cut n3 off.
	must("-n", ns(3), "link", "set", fmt.Sprintf("v3-%s", tag), "down")
	until(30*time.Second, "n1 and n2 drop n3 and its entries", func() bool {
		return allSee(kids[:2], "members", "2")() && allSee(kids[:2], "owner k3", "-")()
	})
	if got, err := kids[0].do("load k3"); err != nil || got != "miss" {
		t.Fatalf("load while n3 is cut off: %q %v (want a miss, not an error)", got, err)
	}
	// Restore it: the partition heals and the directories converge.
	must("-n", ns(3), "link", "set", fmt.Sprintf("v3-%s", tag), "up")
	until(60*time.Second, "three members again and n3's entry back", func() bool {
		return allSee(kids, "members", "3")() && allSee(kids[:2], "owner k3", "n3")()
	})
	if got, err := kids[1].do("load k3"); err != nil || got != "hit 1048576" {
		t.Fatalf("load after the heal: %q %v", got, err)
	}
}

// netnsChild is one node process driven over stdin/stdout.
type netnsChild struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	mu  sync.Mutex
}

func startNetnsChild(ns, name, addr, join string) (*netnsChild, error) {
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run", "^TestNetnsChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsChildEnv+"=1", "NETNS_NAME="+name, "NETNS_ADDR="+addr, "NETNS_JOIN="+join)
	cmd.Stderr = io.Discard
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	k := &netnsChild{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	if got, err := k.do("ping"); err != nil || got != "pong" {
		k.stop()
		return nil, fmt.Errorf("child %s did not start: %q %v", name, got, err)
	}
	return k, nil
}

// do sends one command and returns the child's answer line.
func (k *netnsChild) do(cmd string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := fmt.Fprintln(k.in, cmd); err != nil {
		return "", err
	}
	for k.out.Scan() {
		if line, ok := strings.CutPrefix(k.out.Text(), "R "); ok {
			return line, nil
		}
	}
	return "", errors.New("child exited")
}

func (k *netnsChild) stop() {
	_, _ = fmt.Fprintln(k.in, "quit")
	_ = k.in.Close()
	done := make(chan struct{})
	go func() { _ = k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = k.cmd.Process.Kill()
		<-done
	}
}

// TestNetnsChild is the node process of TestNetnsThreeProcesses; it does
// nothing unless started by it.
func TestNetnsChild(t *testing.T) {
	if os.Getenv(netnsChildEnv) == "" {
		t.Skip("a child process of TestNetnsThreeProcesses")
	}
	name, addr := os.Getenv("NETNS_NAME"), os.Getenv("NETNS_ADDR")
	cfg := DefaultLocalConfig(name)
	cfg.GossipAddr = addr + ":7946"
	cfg.PeerAddr = addr + ":7947"
	if j := os.Getenv("NETNS_JOIN"); j != "" && !strings.HasPrefix(j, addr+":") {
		cfg.Join = []string{j}
	}
	cfg.PeerToken = []byte("netns-token")
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mem := tiertest.New("mem", 64<<20)
	cxl := tiertest.New("cxl", 64<<20).WithKind(tiers.KindCXL)
	chain, err := n.Tiers([]tiers.Tier{mem, cxl})
	if err != nil {
		t.Fatal(err)
	}
	wt := actors.DefaultLinkConfig()
	wt.Policy = actors.WriteThrough
	eng, err := actors.NewEngine(actors.Config{Tiers: chain, Links: []actors.LinkConfig{wt, RemoteLink()}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if err := n.Start(eng); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	in := bufio.NewScanner(os.Stdin)
	reply := func(s string) { fmt.Printf("R %s\n", s) }
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "ping":
			reply("pong")
		case "members":
			reply(strconv.Itoa(len(n.Members())))
		case "store":
			size, _ := strconv.Atoi(f[2])
			err := eng.Store(context.Background(), kvID(f[1]), bytes.Repeat([]byte{7}, size), actors.StoreOptions{})
			if err != nil {
				reply("error " + err.Error())
			} else {
				reply("ok")
			}
		case "owner":
			if hs := n.LookupHolders(context.Background(), kvID(f[1])); len(hs) > 0 {
				reply(hs[0].Node)
			} else {
				reply("-")
			}
		case "load":
			b, err := eng.Load(context.Background(), nil, kvID(f[1]), actors.Chain())
			switch {
			case err == nil:
				reply("hit " + strconv.Itoa(len(b)))
			case errors.Is(err, tiers.ErrNotFound):
				reply("miss")
			default:
				reply("error " + err.Error())
			}
		case "quit":
			reply("bye")
			return
		default:
			reply("unknown")
		}
	}
}

//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Three `stratacache serve` processes, each in a network namespace this
// test makes (joined by veth pairs on a bridge in a fourth namespace; the
// addresses exist only inside them), form a cluster from flags alone. An
// artifact stored on n3 is read on n1 across namespaces; n3 is cut off
// with `ip link set down` (the others drop it, and a read of its artifact
// is a miss or a hit, never an error), then restored (members and reads
// come back). Root, iproute2 and redis-cli only; it skips otherwise.
func TestServeThreeProcessesInNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process namespace test")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (ip netns)")
	}
	for _, tool := range []string{"ip", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install iproute2 redis-tools)", tool)
		}
	}
	tag := strconv.Itoa(os.Getpid() % 100000)
	br := "ssb" + tag
	ns := func(i int) string { return fmt.Sprintf("ss%d-%s", i, tag) }
	addr := func(i int) string { return fmt.Sprintf("10.78.0.%d", i) }
	veth := func(i int) string { return fmt.Sprintf("sv%d-%s", i, tag) }
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
			_ = ip("link", "del", veth(i))
		}
		_ = ip("netns", "del", br)
	})
	setup := func(args ...string) {
		t.Helper()
		if err := ip(args...); err != nil {
			t.Skipf("cannot build the test network here: %v", err)
		}
	}
	setup("-n", br, "link", "add", "br0", "type", "bridge")
	setup("-n", br, "link", "set", "br0", "up")
	for i := 1; i <= 3; i++ {
		peer := fmt.Sprintf("sb%d-%s", i, tag)
		setup("netns", "add", ns(i))
		setup("link", "add", veth(i), "type", "veth", "peer", "name", peer)
		setup("link", "set", veth(i), "netns", ns(i))
		setup("link", "set", peer, "netns", br)
		setup("-n", br, "link", "set", peer, "master", "br0")
		setup("-n", br, "link", "set", peer, "up")
		setup("-n", ns(i), "addr", "add", addr(i)+"/24", "dev", veth(i))
		setup("-n", ns(i), "link", "set", veth(i), "up")
		setup("-n", ns(i), "link", "set", "lo", "up")
	}

	dir := t.TempDir()
	var procs []*exec.Cmd
	for i := 1; i <= 3; i++ {
		a := addr(i)
		args := []string{"netns", "exec", ns(i), os.Args[0], "serve",
			"-resp-addr", a + ":6380", "-native-addr", a + ":7380", "-admin-addr", a + ":9380",
			"-data-dir", filepath.Join(dir, fmt.Sprintf("n%d", i)), "-cpu-capacity-mb", "64",
			"-cluster-bind", a + ":7946", "-cluster-peer", a + ":7947", "-node-name", fmt.Sprintf("n%d", i)}
		if i > 1 {
			args = append(args, "-join", addr(1)+":7946")
		}
		cmd := exec.Command("ip", args...)
		cmd.Env = append(os.Environ(), runAsMainEnv+"=1",
			"STRATACACHE_DISK_CAPACITY_MB=64", "STRATACACHE_CLUSTER_PRESET=local",
			// The namespaces' addresses are not loopback: without a token
			// the node refuses them unless told it is meant (protected mode).
			"STRATACACHE_INSECURE=true")
		var logb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logb, &logb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("n%d output:\n%s", i, logb.String())
			}
		})
		if i == 1 {
			// The others join n1 at start: it must be listening first.
			waitPing(t, ns(1), addr(1))
		}
	}
	// redis-cli run inside node i's namespace against its RESP port.
	rc := func(i int, args ...string) (string, error) {
		full := append([]string{"netns", "exec", ns(i), "redis-cli", "-h", addr(i), "-p", "6380"}, args...)
		out, err := exec.Command("ip", full...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	infoField := func(i int, key string) string {
		out, err := rc(i, "INFO")
		if err != nil {
			return ""
		}
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
				return v
			}
		}
		return ""
	}
	until := func(within time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", within, what)
			}
			time.Sleep(100 * time.Millisecond) // polling a condition across processes
		}
	}
	members := func(want string, nodes ...int) func() bool {
		return func() bool {
			for _, i := range nodes {
				if infoField(i, "cluster_members") != want {
					return false
				}
			}
			return true
		}
	}
	until(30*time.Second, "three members on every node", members("3", 1, 2, 3))

	value := strings.Repeat("kv-block-from-n3/", 4096) // 68 KiB
	if out, err := rc(3, "SET", "prefix:k3", value); err != nil || out != "OK" {
		t.Fatalf("SET on n3: %q %v", out, err)
	}
	until(15*time.Second, "n1 to read n3's artifact across namespaces", func() bool {
		out, err := rc(1, "GET", "prefix:k3")
		return err == nil && out == value
	})
	if infoField(1, "cluster_remote_hits") == "0" {
		t.Fatal("n1 read n3's artifact without a remote hit")
	}

	// Cut n3 off: n1 and n2 drop it; a read of its artifact on n2 (which
	// never read it) is a miss or a hit from n1's promoted copy, never an
	// error.
	if err := ip("-n", ns(3), "link", "set", veth(3), "down"); err != nil {
		t.Fatal(err)
	}
	until(30*time.Second, "n1 and n2 to drop n3", members("2", 1, 2))
	if out, err := rc(2, "GET", "prefix:k3"); err != nil || strings.HasPrefix(out, "ERR") || (out != "" && out != value) {
		t.Fatalf("GET on n2 while n3 is cut off: %q %v", out, err)
	}

	// Restore it: the partition heals and everyone sees three members.
	if err := ip("-n", ns(3), "link", "set", veth(3), "up"); err != nil {
		t.Fatal(err)
	}
	until(60*time.Second, "three members again after the heal", members("3", 1, 2, 3))
	until(15*time.Second, "n2 to read n3's artifact after the heal", func() bool {
		out, err := rc(2, "GET", "prefix:k3")
		return err == nil && out == value
	})
	_ = procs
}

// waitPing waits until the node in namespace ns answers PING on its RESP port.
func waitPing(t *testing.T, ns, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command("ip", "netns", "exec", ns, "redis-cli", "-h", addr, "-p", "6380", "PING").CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node in %s did not answer PING: %s %v", ns, out, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition across processes
	}
}

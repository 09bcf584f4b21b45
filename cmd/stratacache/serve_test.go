package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
	"github.com/stratacache/stratacache/node"
	"github.com/stratacache/stratacache/node/native"
)

func TestServeStartsAndStopsOnSignal(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sc.yaml")
	if err := os.WriteFile(cfgFile, []byte("cpu_capacity_mb: 16\nlisten: {admin: \"127.0.0.1:0\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"STRATACACHE_AUTH_TOKEN=tok", "STRATACACHE_CPU_CAPACITY_MB=999", "STRATACACHE_DISK_CAPACITY_MB=16", "HOME=/x"}
	sigs := make(chan os.Signal, 2)
	var stdout, stderr bytes.Buffer
	var addrs node.Addrs
	var cpuMB int64
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		done <- serve([]string{"-config", cfgFile, "-data-dir", filepath.Join(dir, "data"), "-resp-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0", "-cpu-capacity-mb", "32"},
			&stdout, &stderr, env, sigs,
			func(n *node.Node) { addrs, cpuMB = n.Addrs(), n.Config().CPUCapacityMB; close(started) })
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("serve returned early: %v\n%s", err, stderr.String())
	}
	if cpuMB != 32 {
		t.Fatalf("flag did not override env and file: cpu_capacity_mb %d", cpuMB)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", node.DiskFileName)); err != nil {
		t.Fatalf("disk tier not under -data-dir: %v", err)
	}
	nc, err := net.Dial("tcp", addrs.RESP)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("AUTH tok\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	for _, want := range []string{"+OK\r\n", "+PONG\r\n"} {
		if line, err := br.ReadString('\n'); err != nil || line != want {
			t.Fatalf("got %q %v, want %q (env token not applied?)", line, err, want)
		}
	}
	sigs <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{"stratacache serving", "resp=" + addrs.RESP, "effective config", "cpu_capacity_mb=32", "stopped",
		"disk tier: a pre-allocated file", "path=" + filepath.Join(dir, "data", node.DiskFileName), "size_mb=16", "STRATACACHE_DISK_CAPACITY_MB"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "tok\n") {
		t.Error("log shows the auth token")
	}
	if !strings.Contains(stdout.String(), "resp="+addrs.RESP) {
		t.Errorf("stdout lacks the addresses: %q", stdout.String())
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	none := []string{"STRATACACHE_DISK_CAPACITY_MB=0"}
	var out bytes.Buffer
	err := serve([]string{"-config", filepath.Join(t.TempDir(), "absent.yaml")}, &out, &out, none, nil, nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("absent -config file: %v", err)
	}
	err = serve([]string{"-cpu-capacity-mb", "0", "-resp-addr", "127.0.0.1:0"}, &out, &out, none, nil, nil)
	if !errors.Is(err, node.ErrConfig) {
		t.Fatalf("bad flag value: %v", err)
	}
	// A mistyped variable fails the start, named with the nearest valid one.
	err = serve([]string{"-resp-addr", "127.0.0.1:0"}, &out, &out, append(none, "STRATACACHE_CPU_CAPACITY=64"), nil, nil)
	if !errors.Is(err, node.ErrConfig) || !strings.Contains(err.Error(), "STRATACACHE_CPU_CAPACITY ") ||
		!strings.Contains(err.Error(), "did you mean STRATACACHE_CPU_CAPACITY_MB?") {
		t.Fatalf("unknown variable: %v", err)
	}
	// Protected mode: all interfaces and no token is refused, unless insecure.
	err = serve([]string{"-resp-addr", "0.0.0.0:0"}, &out, &out, none, nil, nil)
	if !errors.Is(err, node.ErrConfig) || !strings.Contains(err.Error(), "listen.resp") || !strings.Contains(err.Error(), "insecure") {
		t.Fatalf("non-loopback without a token: %v", err)
	}
}

// TestServeSecondSignalForcesExit: a client that stops reading a large GET
// reply keeps its request in flight, so the graceful shutdown waits; the
// second signal makes serve return at once.
func TestServeSecondSignalForcesExit(t *testing.T) {
	none := []string{"STRATACACHE_DISK_CAPACITY_MB=0"}
	sigs := make(chan os.Signal, 2)
	started := make(chan *node.Node, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- serve([]string{"-resp-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0", "-admin-addr", "", "-cpu-capacity-mb", "128"},
			&out, &out, none, sigs, func(n *node.Node) { started <- n })
	}()
	var n *node.Node
	select {
	case n = <-started:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	ctx := context.Background()
	c, err := native.Dial(ctx, n.Addrs().Native, native.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := artifact.MustID(artifact.NamespaceBlob, "big")
	if err := c.Put(ctx, id, make([]byte, 48<<20), artifact.Meta{}); err != nil {
		t.Fatal(err)
	}
	// A raw GET whose 48 MiB reply we read only the start of.
	nc, err := net.Dial("tcp", n.Addrs().Native)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var req []byte
	req, _ = native.AppendFrameHead(req, &messages.FrameHeader{Op: messages.Op_OP_HELLO, RequestId: 1}, 0)
	req, _ = native.AppendFrameHead(req, &messages.FrameHeader{Op: messages.Op_OP_GET, RequestId: 2,
		Ids: []*messages.ArtifactID{messages.IDToProto(id)}}, 0)
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	fr := native.NewFrameReader(bufio.NewReader(nc), native.DefaultLimits())
	if _, err := fr.Next(); err != nil { // HELLO reply
		t.Fatal(err)
	}
	if p, err := fr.Next(); err != nil || p.PayloadLen != 48<<20 { // the GET is being served
		t.Fatalf("GET reply: %v %v", p, err)
	}
	sigs <- syscall.SIGINT
	sigs <- syscall.SIGINT
	if err := <-done; err == nil || !strings.Contains(err.Error(), "forced exit") {
		t.Fatalf("serve after two signals: %v", err)
	}
	_ = nc.Close() // unblocks the node's write so its shutdown can finish
}

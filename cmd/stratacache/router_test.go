package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/kvevents"
	"github.com/stratacache/stratacache/node"
	"github.com/stratacache/stratacache/placement"
	"github.com/stratacache/stratacache/router"
)

// `stratacache router` end to end, in one process: a vLLM pod (a ZeroMQ
// publisher in vLLM's format) holds a prompt's first 10 blocks on its GPU;
// a StrataCache node (clustered, followed with -join) holds the next 20
// in its tiers. POST /v1/score ranks the pod with both above a pod with
// nothing, counting 10 hit blocks and 20 plane blocks.
func TestRouterCommand(t *testing.T) {
	cfg := node.Defaults()
	cfg.CPUCapacityMB = 8
	cfg.Disk.CapacityMB = 0
	cfg.Listen = node.ListenConfig{Native: "127.0.0.1:0"}
	cfg.Cluster = node.ClusterConfig{Name: "n1", Bind: "127.0.0.1:0", Peer: "127.0.0.1:0", Preset: "local"}
	n, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	defer n.Shutdown(context.Background())

	tokens := make([]uint32, 30*16)
	for i := range tokens {
		tokens[i] = uint32(i * 13)
	}
	vh, _ := placement.NewVLLMHasher("0")
	blocks, _ := vh.PrefixHashes(nil, tokens, 16, nil)
	var hs []uint64
	for _, b := range blocks {
		hs = append(hs, b.U64())
	}
	for _, h := range hs[10:] {
		id, _ := artifact.KVKey{Model: "llama-3-8b", PrefixHash: h, Layers: artifact.AllLayers}.ID()
		if err := n.Store(context.Background(), id, make([]byte, 4096), artifact.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	pod, err := kvevents.NewPublisher(kvevents.PublisherConfig{Endpoint: "tcp://127.0.0.1:0", ReplayEndpoint: "tcp://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer pod.Close()
	pod.Publish(&kvevents.Batch{Events: []kvevents.Event{{Kind: kvevents.BlockStored, BlockHashes: hs[:10], BlockSize: 16, Medium: "GPU"}}})
	idle, err := kvevents.NewPublisher(kvevents.PublisherConfig{Endpoint: "tcp://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	sigs := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var stdout, stderr bytes.Buffer
	args := []string{"-listen", "127.0.0.1:0",
		"-kv-events", "vllm-0=" + pod.Endpoint() + ",vllm-1=" + idle.Endpoint(),
		"-kv-replay", "vllm-0=" + pod.ReplayEndpoint(),
		"-hash-scheme", "vllm", "-hash-seed", "0", "-block-size", "16",
		"-join", n.Addrs().Native, "-join-interval", "50ms", "-log-level", "warn"}
	go func() { done <- routerCmd(args, &stdout, &stderr, "", sigs, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("router: %v\n%s", err, stderr.String())
	}
	base := "http://" + addr
	body, _ := json.Marshal(map[string]any{"tokens": tokens, "model": "llama-3-8b", "lora_name": nil})
	deadline := time.Now().Add(20 * time.Second)
	var resp router.ScoreResponse
	for {
		r, err := http.Post(base+router.PathScore, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, b)
		}
		resp = router.ScoreResponse{}
		json.Unmarshal(b, &resp)
		if len(resp.Pods) == 2 && resp.Pods[0].HitBlocks == 10 && resp.Pods[0].PlaneBlocks == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw the pod's GPU blocks and the node's chunks together: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp.Pods[0].Pod != "vllm-0" || resp.Pods[1].Pod != "vllm-1" || resp.Pods[1].Score != 0 || len(resp.BlockHashes) != 30 || resp.BlockHashes[0] != hs[0] {
		t.Fatalf("%+v", resp)
	}
	if len(resp.Nodes) != 1 || resp.Nodes[0].Node != "n1" || resp.Nodes[0].LocalTokens != 0 {
		// n1 holds blocks 10-29 but not block 0: no cached prefix of its own.
		t.Fatalf("nodes %+v", resp.Nodes)
	}
	r, err := http.Get(base + router.PathPods)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{`"pod":"vllm-0"`, `"blocks":10`, `"last_seq":0`, `"pod":"vllm-1"`, `"node":"n1"`, `"block_size":16`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("/v1/pods lacks %s: %s", want, b)
		}
	}
	sigs <- os.Interrupt
	if err := <-done; err != nil {
		t.Fatalf("router exit: %v", err)
	}
	if !strings.Contains(stdout.String(), "router listening on http://") {
		t.Fatalf("stdout %q", stdout.String())
	}
}

func TestRouterCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "nothing to follow"},
		{[]string{"-kv-events", "a=tcp://127.0.0.1:1"}, "PYTHONHASHSEED"},
		{[]string{"-kv-events", "a"}, "POD=tcp://"},
		{[]string{"-kv-events", "a=tcp://127.0.0.1:1", "-hash-seed", "0", "-hash-scheme", "x"}, "unknown hash scheme"},
		{[]string{"-kv-events", "a=tcp://127.0.0.1:1", "-hash-seed", "0", "-listen", "nonsense"}, "-listen"},
	} {
		var out, errb bytes.Buffer
		err := routerCmd(c.args, &out, &errb, "", make(chan os.Signal), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

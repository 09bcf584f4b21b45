package router

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/kvevents"
	"github.com/stratacache/stratacache/placement"
)

func seqTokens(n int) []uint32 {
	ts := make([]uint32, n)
	for i := range ts {
		ts[i] = uint32(i*31 + 7)
	}
	return ts
}

func vllmHashes(t testing.TB, tokens []uint32, bs int) []uint64 {
	h, err := placement.NewVLLMHasher("0")
	if err != nil {
		t.Fatal(err)
	}
	vh, _ := h.PrefixHashes(nil, tokens, bs, nil)
	out := make([]uint64, len(vh))
	for i := range vh {
		out[i] = vh[i].U64()
	}
	return out
}

func chunkID(t testing.TB, model string, h uint64) uint64 {
	id, err := artifact.KVKey{Model: model, PrefixHash: h, Layers: artifact.AllLayers}.ID()
	if err != nil {
		t.Fatal(err)
	}
	return id.Hash
}

func newRouter(t testing.TB, nodes *clientsdk.Index) *Router {
	r, err := New(Config{HashScheme: "vllm", HashSeed: "0", BlockSize: 16, Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func gpuStore(hs []uint64) *kvevents.Batch {
	return &kvevents.Batch{Events: []kvevents.Event{{Kind: kvevents.BlockStored, BlockHashes: hs, BlockSize: 16, Medium: "GPU"}}}
}

func find(ps []PodScore, pod string) PodScore {
	for _, p := range ps {
		if p.Pod == pod {
			return p
		}
	}
	return PodScore{}
}

// The example: a pod with the first 10 blocks on its GPU and the
// next 20 in a StrataCache node's CXL pool is worth more than either alone.
func TestScoreCombinesGPUAndPlane(t *testing.T) {
	const model = "llama-3-8b"
	tokens := seqTokens(30 * 16)
	hs := vllmHashes(t, tokens, 16)
	nodes := clientsdk.NewIndex(clientsdk.ScoreConfig{})
	nodes.SetMembers([]clientsdk.Member{{Name: "n1"}})
	r := newRouter(t, nodes)
	// gpu10: the first 10 blocks on its GPU. none: nothing.
	r.Index().Apply("gpu10", gpuStore(hs[:10]))
	r.Index().AddPod("none")

	score := func() *ScoreResponse {
		resp, err := r.Score(&ScoreRequest{Tokens: tokens, Model: model})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// GPU alone.
	gpuAlone := find(score().Pods, "gpu10")
	if gpuAlone.HitBlocks != 10 || gpuAlone.Medium != "GPU" || gpuAlone.PlaneBlocks != 0 || gpuAlone.Score != 160 {
		t.Fatalf("GPU alone: %+v", gpuAlone)
	}
	// The next 20 in n1's CXL pool.
	for _, h := range hs[10:30] {
		nodes.Put("n1", chunkID(t, model, h), clientsdk.TierCXL)
	}
	resp := score()
	both := find(resp.Pods, "gpu10")
	if both.HitBlocks != 10 || both.PlaneBlocks != 20 || resp.Pods[0].Pod != "gpu10" {
		t.Fatalf("GPU + plane: %+v", resp.Pods)
	}
	if none := find(resp.Pods, "none"); none.Score != 0 || none.PlaneBlocks != 0 {
		t.Fatalf("a pod without block 0 cannot use blocks 10-29: %+v", none)
	}
	// All 30 in the plane: a pod without GPU blocks loads them all.
	for _, h := range hs[:10] {
		nodes.Put("n1", chunkID(t, model, h), clientsdk.TierCXL)
	}
	planeAlone := find(score().Pods, "none")
	if planeAlone.PlaneBlocks != 30 || planeAlone.HitBlocks != 0 {
		t.Fatalf("plane alone: %+v", planeAlone)
	}
	if !(both.Score > gpuAlone.Score && both.Score > planeAlone.Score) {
		t.Fatalf("GPU+plane %.1f must beat GPU alone %.1f and plane alone %.1f", both.Score, gpuAlone.Score, planeAlone.Score)
	}
	// Without the model, chunk keys cannot be named: the plane is not used.
	resp, _ = r.Score(&ScoreRequest{Tokens: tokens})
	if find(resp.Pods, "gpu10").PlaneBlocks != 0 {
		t.Fatal("plane used without a model")
	}
}

func TestScoreOrderingMediaAndFilter(t *testing.T) {
	tokens := seqTokens(8 * 16)
	hs := vllmHashes(t, tokens, 16)
	r := newRouter(t, nil)
	ix := r.Index()
	ix.Apply("a", gpuStore(hs[:3]))
	ix.Apply("b", gpuStore(hs[:5]))
	ix.Apply("c", &kvevents.Batch{Events: []kvevents.Event{
		{Kind: kvevents.BlockStored, BlockHashes: hs[:5], Medium: "GPU"},
		{Kind: kvevents.BlockStored, BlockHashes: hs[5:8], Medium: "CPU"}, // vLLM CPU offload
	}})
	resp, err := r.Score(&ScoreRequest{Tokens: append(tokens, 1, 2, 3)}) // a short tail is not a block
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BlockHashes) != 8 || resp.BlockHashes[0] != hs[0] {
		t.Fatalf("block hashes %v", resp.BlockHashes)
	}
	var order []string
	for _, p := range resp.Pods {
		order = append(order, p.Pod)
	}
	if strings.Join(order, ",") != "c,b,a" {
		t.Fatalf("order %v", resp.Pods)
	}
	if c := resp.Pods[0]; c.HitBlocks != 8 || c.Medium != "CPU" || math.Abs(c.Score-(5*16+3*16*0.9)) > 1e-9 {
		t.Fatalf("c: %+v", c)
	}
	resp, _ = r.Score(&ScoreRequest{Tokens: tokens, Pods: []string{"a", "unknown"}})
	if len(resp.Pods) != 2 || resp.Pods[0].Pod != "a" || resp.Pods[1].HitBlocks != 0 {
		t.Fatalf("filter: %+v", resp.Pods)
	}
	// A LoRA request hashes differently: no pod holds its blocks.
	lora := "sql"
	resp, _ = r.Score(&ScoreRequest{Tokens: tokens, LoRAName: &lora})
	if resp.Pods[0].HitBlocks != 0 || resp.BlockHashes[0] == hs[0] {
		t.Fatalf("lora: %+v", resp.Pods[0])
	}
}

// The HTTP API over a real ZeroMQ publisher standing in for a vLLM pod.
func TestHTTPAPIWithAPod(t *testing.T) {
	pub, err := kvevents.NewPublisher(kvevents.PublisherConfig{Endpoint: "tcp://127.0.0.1:0", ReplayEndpoint: "tcp://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	tokens := seqTokens(4 * 16)
	hs := vllmHashes(t, tokens, 16)
	// Published before the router connects: it arrives by replay.
	pub.Publish(gpuStore(hs[:3]))
	r, err := New(Config{HashScheme: "vllm", HashSeed: "0", BlockSize: 16,
		Sources: []kvevents.Source{{Pod: "vllm-0", Endpoint: pub.Endpoint(), Replay: pub.ReplayEndpoint()}}})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	defer r.Close()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	post := func(body string) (int, []byte) {
		resp, err := http.Post(srv.URL+PathScore, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	tj, _ := json.Marshal(tokens)
	deadline := time.Now().Add(10 * time.Second)
	var got ScoreResponse
	for {
		code, b := post(`{"tokens": ` + string(tj) + `, "model": "m", "lora_name": null}`)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Pods) == 1 && got.Pods[0].HitBlocks == 3 {
			if !bytes.Contains(b, []byte(`"hit_blocks":3`)) || !bytes.Contains(b, []byte(`"medium":"GPU"`)) || !bytes.Contains(b, []byte(`"block_hashes":[`)) {
				t.Fatalf("field names: %s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod's blocks never arrived: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, bad := range []string{`{}`, `{"tokens": [-1]}`, `{"tokens": [1], "extra": 1}`, `not json`, `{"tokens": [1]} {}`} {
		if code, b := post(bad); code != 400 || !bytes.Contains(b, []byte(`"error"`)) {
			t.Errorf("%s: %d %s", bad, code, b)
		}
	}
	resp, _ := http.Get(srv.URL + PathScore)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatal(resp.Status)
	}
	resp.Body.Close()

	resp, err = http.Get(srv.URL + PathPods)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var pods struct{ Pods []PodInfo }
	json.Unmarshal(b, &pods)
	if len(pods.Pods) != 1 || pods.Pods[0].Pod != "vllm-0" || pods.Pods[0].Blocks != 3 || pods.Pods[0].LastSeq != 0 || !pods.Pods[0].Connected {
		t.Fatalf("%s", b)
	}
	for _, want := range []string{`"blocks":3`, `"last_seq":0`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Fatalf("%s lacks %s", b, want)
		}
	}
	resp, _ = http.Get(srv.URL + PathMetrics)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`stratacache_router_pod_blocks{pod="vllm-0"} 3`, "stratacache_router_score_seconds_count"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
	resp, _ = http.Get(srv.URL + PathHealthz)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	_ = httptest.NewRecorder
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{HashScheme: "vllm"}, {HashScheme: "md5"}, {HashSeed: "0", BlockSize: -1}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// The stratacache scheme: the chain seeded by the model (-hash-seed is the
// default model), the LoRA name as extra key.
func TestStrataCacheScheme(t *testing.T) {
	r, err := New(Config{HashScheme: "stratacache", HashSeed: "llama-3-8b", BlockSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tokens := seqTokens(40)
	got, err := r.Hashes(nil, tokens, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := placement.PrefixHashes(nil, placement.ModelSeed("llama-3-8b"), tokens, 16, false)
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("%x, want %x", got, want)
	}
	lora := "sql"
	got, _ = r.Hashes(nil, tokens, "qwen", &lora)
	want, _ = placement.PrefixHashes(nil, placement.ModelSeed("qwen", "sql"), tokens, 16, false)
	if got[0] != want[0] {
		t.Fatalf("model + lora: %x, want %x", got, want)
	}
}

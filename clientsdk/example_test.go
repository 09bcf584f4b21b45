package clientsdk_test

import (
	"context"
	"fmt"

	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/clientsdk/clientsdktest"
)

// A scheduler hashes a prompt once and asks the local index which node
// holds most of it; no network round trip per request.
func ExampleIndex_ScoreNodes() {
	h, _ := clientsdk.NewHasher(clientsdk.HashConfig{Model: "llama-3-8b", BlockSizes: []int{16}})
	tokens := make([]uint32, 64) // 4 blocks of 16 tokens
	for i := range tokens {
		tokens[i] = uint32(i)
	}
	var p clientsdk.Prompt
	_ = h.Hash(&p, tokens)

	ix := clientsdk.NewIndex(clientsdk.DefaultScoreConfig())
	ix.SetMembers([]clientsdk.Member{{Name: "gpu-a"}, {Name: "gpu-b", Load: 1}})
	// What a Follower learns from the nodes' directories: gpu-b holds the
	// first three blocks in its CPU tier.
	for _, id := range p.Levels[0].IDs[:3] {
		ix.Put("gpu-b", id, clientsdk.TierCPU)
	}
	for _, s := range ix.ScoreNodes(nil, &p, nil) {
		fmt.Printf("%s: %.1f (%d of %d cached tokens local)\n", s.Node, s.Score, s.LocalTokens, s.CachedTokens)
	}
	for _, x := range ix.PrefixLookup(nil, &p) {
		fmt.Printf("%s: %d leading blocks in %s\n", x.Node, x.Blocks, x.Tier)
	}
	// Output:
	// gpu-a: 14.4 (0 of 48 cached tokens local)
	// gpu-b: 42.2 (48 of 48 cached tokens local)
	// gpu-a: 0 leading blocks in none
	// gpu-b: 3 leading blocks in cpu
}

// An inference worker loads a model layer by layer: while layer i is
// loading, it asks the owners to warm layer i+1 into their CPU tier.
func ExampleParamStore_Prefetch() {
	node, _ := clientsdktest.Start() // a fake node; use the cluster's addresses
	defer node.Close()
	c, _ := clientsdk.New(clientsdk.WithNodes(node.Addr()))
	defer c.Close()
	ctx := context.Background()
	ps := c.ParamStore("llama-3-8b")
	layer := func(i int) string { return fmt.Sprintf("layers.%d.mlp.weight", i) }
	for i := 0; i < 3; i++ {
		for chunk := 0; chunk < 2; chunk++ {
			_ = ps.PutChunk(ctx, layer(i), chunk, []byte{byte(i), byte(chunk)})
		}
	}
	n, _ := ps.Prefetch(ctx, layer(0))
	fmt.Println("warmed", n, "chunks of layer 0")
	var buf []byte
	for i := 0; i < 3; i++ {
		done := make(chan struct{})
		go func() { // warms the next layer while this one loads
			defer close(done)
			if i+1 < 3 {
				_, _ = ps.Prefetch(ctx, layer(i+1))
			}
		}()
		for chunk := 0; chunk < 2; chunk++ {
			buf, _ = ps.GetChunk(ctx, buf[:0], layer(i), chunk)
			fmt.Println("loaded", layer(i), chunk, buf)
		}
		<-done
	}
	// Output:
	// warmed 2 chunks of layer 0
	// loaded layers.0.mlp.weight 0 [0 0]
	// loaded layers.0.mlp.weight 1 [0 1]
	// loaded layers.1.mlp.weight 0 [1 0]
	// loaded layers.1.mlp.weight 1 [1 1]
	// loaded layers.2.mlp.weight 0 [2 0]
	// loaded layers.2.mlp.weight 1 [2 1]
}

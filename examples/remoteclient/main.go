// Command remoteclient is the smallest program a scheduler or worker
// outside the cluster's process would build with clientsdk: it follows the
// cluster's membership and ownership through a seed node (NodeMembers and
// a Follower), routes by ScoreNodes, and puts and gets one KV chunk. Its
// `go build` size and the packages it links are the SDK's weight
// (docs/clientsdk.md, "Weight"; docs/BENCHMARKS.md).
//
//	go run ./examples/remoteclient -seed 127.0.0.1:7380
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/stratacache/stratacache/clientsdk"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "remoteclient:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("remoteclient", flag.ContinueOnError)
	seed := fs.String("seed", "127.0.0.1:7380", "a node's native address")
	model := fs.String("model", "llama-3-8b", "model of the KV chunks")
	token := fs.String("token", "", "auth token of the node")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on the whole run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	ix := clientsdk.NewIndex(clientsdk.ScoreConfig{})
	c, err := clientsdk.New(clientsdk.WithNodes(*seed), clientsdk.WithIndex(ix), clientsdk.WithToken(*token))
	if err != nil {
		return err
	}
	defer c.Close()
	h, err := clientsdk.NewHasher(clientsdk.HashConfig{Model: *model, BlockSizes: []int{16}})
	if err != nil {
		return err
	}
	tokens := make([]uint32, 64)
	for i := range tokens {
		tokens[i] = uint32(i)
	}
	var p clientsdk.Prompt
	if err := h.Hash(&p, tokens); err != nil {
		return err
	}
	// A node running alone has no cluster members to follow: routing then
	// uses the seed.
	f := clientsdk.NewFollower(ix, c, clientsdk.NodeMembers(c, *seed))
	if err := f.Sync(ctx); err != nil {
		fmt.Fprintln(out, "follow:", err)
	}
	id, err := h.ChunkID(p.Levels[0].Hashes[0])
	if err != nil {
		return err
	}
	if err := c.Put(ctx, id, []byte("kv block 0")); err != nil {
		return err
	}
	got, err := c.Get(ctx, nil, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "get %q\n", got)
	for _, s := range ix.ScoreNodes(nil, &p, nil) {
		fmt.Fprintf(out, "node %s score %.1f cached tokens %d\n", s.Node, s.Score, s.CachedTokens)
	}
	return nil
}

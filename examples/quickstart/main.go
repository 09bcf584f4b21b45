// Command quickstart is the scheduler quickstart of docs/clientsdk.md:
// it follows a running StrataCache cluster, routes a prompt to the node
// that holds most of its prefix, stores the prompt's KV chunks there and
// reads them back. Run it against any cluster, for instance
// `stratacache local-cluster -nodes 3 -base-port 7300` (native ports
// 7400-7402): go run ./examples/quickstart -seeds 127.0.0.1:7400
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/stratacache/stratacache/clientsdk"
)

func main() {
	seeds := flag.String("seeds", "127.0.0.1:7380", "native addresses of cluster nodes, comma separated")
	token := flag.String("token", "", "the cluster's auth.token, if it has one")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, strings.Split(*seeds, ","), *token, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, seeds []string, token string, out io.Writer) error {
	// How the engines name KV chunks: the nodes' chunk_size is checked
	// against BlockSizes on every connection (ErrSettings if they differ).
	hc := clientsdk.HashConfig{Model: "llama-3-8b", BlockSizes: []int{256}}

	// 1. The cluster: an index of who holds what, and a client that routes
	// through it.
	ix := clientsdk.NewIndex(clientsdk.DefaultScoreConfig())
	c, err := clientsdk.New(clientsdk.WithNodes(seeds...), clientsdk.WithIndex(ix),
		clientsdk.WithHashConfig(hc), clientsdk.WithToken(token), clientsdk.WithPeerToken(token))
	if err != nil {
		return err
	}
	defer c.Close()

	// 2. Members through a seed's native port (NodeMembers), 3. a Follower
	// that keeps the index current. A scheduler runs it in the background:
	// go f.Run(ctx, time.Second, nil). Here each step syncs explicitly.
	f := clientsdk.NewFollower(ix, c, clientsdk.NodeMembers(c, seeds...))
	if err := f.Sync(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "following %d nodes\n", len(ix.Members()))

	// 4. Route a prompt: Scores hashes it and scores every live node, best
	// first.
	prompt := make([]uint32, 1024) // token ids from your tokenizer
	for i := range prompt {
		prompt[i] = uint32(i * 7)
	}
	scores, err := c.Scores(ctx, prompt)
	if err != nil {
		return err
	}
	best := scores[0]
	fmt.Fprintf(out, "prompt 1 -> %s (%d of %d tokens cached there)\n", best.Node, best.LocalTokens, len(prompt))

	// 5. The worker on that node computes the KV and stores it there:
	// On(node) places each chunk on the node the request runs on.
	h, err := clientsdk.NewHasher(hc)
	if err != nil {
		return err
	}
	var p clientsdk.Prompt
	if err := h.Hash(&p, prompt); err != nil {
		return err
	}
	worker := c.On(best.Node)
	for i, ph := range p.Levels[0].Hashes {
		id, err := h.ChunkID(ph)
		if err != nil {
			return err
		}
		if err := worker.Put(ctx, id, []byte(fmt.Sprintf("kv of block %d", i))); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "stored %d chunks on %s\n", len(p.Levels[0].Hashes), best.Node)

	// 6. A follow-up prompt that shares the first 768 tokens goes to the
	// node holding them, once the follower has seen them.
	next := append(append([]uint32(nil), prompt[:768]...), 1, 2, 3)
	for {
		if err := f.Sync(ctx); err != nil {
			return err
		}
		if scores, err = c.Scores(ctx, next); err != nil {
			return err
		}
		if scores[0].LocalTokens == 768 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the directory never listed the chunks: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Fprintf(out, "prompt 2 -> %s (%d of %d tokens cached there)\n", scores[0].Node, scores[0].LocalTokens, len(next))

	// 7. Any client reads them back: Get routes to the chunk's holder.
	var buf []byte
	for i, ph := range p.Levels[0].Hashes {
		id, _ := h.ChunkID(ph)
		if buf, err = c.Get(ctx, buf[:0], id); err != nil {
			return err
		}
		if string(buf) != fmt.Sprintf("kv of block %d", i) {
			return fmt.Errorf("chunk %d came back as %q", i, buf)
		}
	}
	fmt.Fprintf(out, "read back %d chunks\n", len(p.Levels[0].Hashes))
	return nil
}

package clientsdk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/messages"
)

func TestParamStorePrefetch(t *testing.T) {
	for _, mode := range []string{"peer-port", "native-port", "read-fallback"} {
		t.Run(mode, func(t *testing.T) {
			s := startFake(t)
			var c *Client
			switch mode {
			case "peer-port":
				ix := NewIndex(ScoreConfig{})
				ix.SetMembers([]Member{{Name: "n1", Addr: s.Addr(), PeerAddr: s.Addr()}})
				c = newClient(t, WithIndex(ix))
			case "read-fallback":
				s.NoPrefetch = true
				fallthrough
			default:
				c = newClient(t, WithNodes(s.Addr()))
			}
			ctx := context.Background()
			ps := c.ParamStore("llama-3-8b")
			chunks := map[string]int{"layers.0.attn.q_proj.weight": 3, "layers.1.attn.q_proj.weight": 2}
			for name, n := range chunks {
				for i := 0; i < n; i++ {
					if err := ps.PutChunk(ctx, name, i, []byte(fmt.Sprint(name, i))); err != nil {
						t.Fatal(err)
					}
				}
			}
			// A name the store does not know is an error, and nothing is
			// prefetched.
			n, err := ps.Prefetch(ctx, "layers.0.attn.q_proj.weight", "absent", "layers.1.attn.q_proj.weight")
			if !errors.Is(err, ErrNotFound) || n != 0 || !strings.Contains(err.Error(), `"absent"`) {
				t.Fatalf("prefetch of an unknown parameter = %d, %v, want ErrNotFound naming it", n, err)
			}
			if s.Ops(messages.Op_OP_PEER_PREFETCH) != 0 || s.Ops(messages.Op_OP_GET) != 0 {
				t.Fatal("a failed prefetch warmed chunks")
			}
			n, err = ps.Prefetch(ctx, "layers.0.attn.q_proj.weight", "layers.1.attn.q_proj.weight")
			if err != nil || n != 5 {
				t.Fatalf("prefetch = %d, %v, want 5", n, err)
			}
			for name, n := range chunks {
				for i := 0; i < n; i++ {
					k, _ := artifact.ParamKey{Model: "llama-3-8b", Name: name, Chunk: i}.AppendKey(nil)
					if !s.Warm(uint8(artifact.NamespaceParam), string(k)) {
						t.Fatalf("%s#%d not warmed", name, i)
					}
				}
			}
			if mode != "read-fallback" && s.Ops(messages.Op_OP_PEER_PREFETCH) != 1 {
				t.Fatalf("%d prefetch requests, want 1 (one per node)", s.Ops(messages.Op_OP_PEER_PREFETCH))
			}
			got, err := ps.GetChunk(ctx, nil, "layers.1.attn.q_proj.weight", 1)
			if err != nil || string(got) != "layers.1.attn.q_proj.weight1" {
				t.Fatalf("get chunk = %q, %v", got, err)
			}
		})
	}
}

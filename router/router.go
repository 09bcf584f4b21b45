package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/clientsdk"
	"github.com/stratacache/stratacache/kvevents"
	"github.com/stratacache/stratacache/placement"
)

// ErrConfig: a Config the router cannot run with.
var ErrConfig = errors.New("router: bad config")

// ErrRequest: a score request the router cannot answer (bad tokens, an
// unknown pod in the filter is not an error: it scores zero).
var ErrRequest = errors.New("router: bad request")

// Weights say what one cached token is worth, as a fraction of a token
// that need not be recomputed, by where the pod gets it from.
type Weights struct {
	// Own media of the pod (what its KV events report): GPU, CPU (vLLM's
	// CPU offloading), CXL, DISK, and any other medium.
	GPU, CPU, CXL, Disk, Other float64
	// Plane: a block held by a StrataCache node, which the pod's connector
	// (LMCache's remote connector) loads over the network, by the node's
	// tier.
	PlaneCPU, PlaneCXL, PlaneDisk float64
}

// DefaultWeights: own GPU 1.0, CPU 0.9, CXL 0.8, disk 0.5, other 0.5;
// from a StrataCache node: CPU 0.6, CXL 0.6, disk 0.4. A pod holding the
// first 10 blocks on its GPU and finding the next 20 in a node's CXL pool
// scores 10 + 20 x 0.6 = 22 blocks' worth: more than the 10 of a pod with
// only the GPU blocks and more than the 18 of a pod that loads all 30 from
// the node.
func DefaultWeights() Weights {
	return Weights{GPU: 1.0, CPU: 0.9, CXL: 0.8, Disk: 0.5, Other: 0.5, PlaneCPU: 0.6, PlaneCXL: 0.6, PlaneDisk: 0.4}
}

func (w *Weights) own(m kvevents.Media) float64 {
	switch m.Fastest() {
	case kvevents.MediaGPU:
		return w.GPU
	case kvevents.MediaCPU:
		return w.CPU
	case kvevents.MediaCXL:
		return w.CXL
	case kvevents.MediaDisk:
		return w.Disk
	}
	return w.Other
}

func (w *Weights) plane(t clientsdk.Tier) float64 {
	switch t {
	case clientsdk.TierCPU, clientsdk.TierGPU:
		return w.PlaneCPU
	case clientsdk.TierCXL:
		return w.PlaneCXL
	case clientsdk.TierDisk:
		return w.PlaneDisk
	}
	return 0 // remote: the node itself would fetch it; not counted twice
}

// Config configures a Router.
type Config struct {
	// Sources are the vLLM pods followed (-kv-events, -kv-replay).
	Sources []kvevents.Source
	// HashScheme is "vllm" (default) or "stratacache"; HashSeed is vLLM's
	// PYTHONHASHSEED (vllm) or the default model name (stratacache);
	// BlockSize the pods' block size in tokens (default 16).
	HashScheme, HashSeed string
	BlockSize            int
	// Join lists StrataCache nodes' native addresses; when set, the
	// cluster's directory is followed through the SDK and its holdings
	// count as the plane.
	Join []string
	// JoinToken is the cluster's auth token (native and peer ports).
	JoinToken string
	// Nodes, when set (and Join is not), is the plane's index, fed by the
	// caller (an embedded router, tests).
	Nodes *clientsdk.Index
	// SyncInterval is how often the cluster's membership is refreshed
	// (default 1 s); the nodes' holdings arrive on their change streams
	// as they change (clientsdk.Follower.Run).
	SyncInterval time.Duration
	// Weights (default DefaultWeights).
	Weights Weights
	// Subscriber settings (timeouts, backoff); Sources and Index are
	// filled in.
	Subscriber kvevents.SubscriberConfig
	// MaxBlocksPerPod bounds the event index per pod.
	MaxBlocksPerPod int
	// MaxTokens bounds a request's prompt (default 1M tokens).
	MaxTokens int
	Logger    *slog.Logger
}

// Router scores prompts against the pods it follows.
type Router struct {
	cfg  Config
	ix   *kvevents.Index
	sub  *kvevents.Subscriber
	vh   *placement.VLLMHasher
	seed uint64 // stratacache scheme, default model

	// The plane (with Join).
	client   *clientsdk.Client
	nodes    *clientsdk.Index
	follower *clientsdk.Follower
	syncErr  errorBox

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	scratch sync.Pool // *scratch

	stats scoreStats
}

type errorBox struct {
	mu  sync.Mutex
	err error
	at  time.Time
}

// New validates cfg and builds the router; Start runs it.
func New(cfg Config) (*Router, error) {
	if cfg.HashScheme == "" {
		cfg.HashScheme = placement.SchemeVLLM
	}
	if err := placement.CheckScheme(cfg.HashScheme); err != nil {
		return nil, fmt.Errorf("%w: -hash-scheme: %w", ErrConfig, err)
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = 16
	}
	if cfg.BlockSize < 0 {
		return nil, fmt.Errorf("%w: -block-size %d", ErrConfig, cfg.BlockSize)
	}
	if cfg.Weights == (Weights{}) {
		cfg.Weights = DefaultWeights()
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 1 << 20
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Router{cfg: cfg, ix: kvevents.NewIndex(cfg.MaxBlocksPerPod)}
	r.stats.hist = newScoreHistogram()
	switch cfg.HashScheme {
	case placement.SchemeVLLM:
		vh, err := placement.NewVLLMHasher(cfg.HashSeed)
		if err != nil {
			return nil, fmt.Errorf("%w: -hash-seed: %w", ErrConfig, err)
		}
		r.vh = vh
	case placement.SchemeStrataCache:
		r.seed = placement.ModelSeed(cfg.HashSeed)
	}
	sc := cfg.Subscriber
	sc.Sources, sc.Index = cfg.Sources, r.ix
	if sc.Logger == nil {
		sc.Logger = cfg.Logger
	}
	sub, err := kvevents.NewSubscriber(sc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r.sub = sub
	r.nodes = cfg.Nodes
	if len(cfg.Join) > 0 {
		r.nodes = clientsdk.NewIndex(clientsdk.ScoreConfig{})
		opts := []clientsdk.Option{clientsdk.WithNodes(cfg.Join...), clientsdk.WithIndex(r.nodes)}
		if cfg.JoinToken != "" {
			opts = append(opts, clientsdk.WithToken(cfg.JoinToken), clientsdk.WithPeerToken(cfg.JoinToken))
		}
		c, err := clientsdk.New(opts...)
		if err != nil {
			return nil, fmt.Errorf("%w: -join: %w", ErrConfig, err)
		}
		r.client = c
		r.follower = clientsdk.NewFollower(r.nodes, c, clientsdk.NodeMembers(c, cfg.Join...))
	}
	return r, nil
}

// Start follows the pods (and the cluster) until Close.
func (r *Router) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.sub.Start(ctx)
	if r.follower != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.follower.Run(ctx, r.cfg.SyncInterval, func(err error) {
				r.syncErr.mu.Lock()
				r.syncErr.err, r.syncErr.at = err, time.Now()
				r.syncErr.mu.Unlock()
				r.cfg.Logger.Debug("router: cluster sync", "err", err)
			})
		}()
	}
}

// Close stops following. Safe to call twice.
func (r *Router) Close() error {
	var err error
	r.once.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		err = r.sub.Close()
		r.wg.Wait()
		if r.client != nil {
			err = errors.Join(err, r.client.Close())
		}
	})
	return err
}

// Index is the pods' event index (tests, benchmarks).
func (r *Router) Index() *kvevents.Index { return r.ix }

// Nodes is the cluster's index (nil without Join).
func (r *Router) Nodes() *clientsdk.Index { return r.nodes }

// ScoreRequest is POST /v1/score's body.
type ScoreRequest struct {
	Tokens   []uint32 `json:"tokens"`
	Model    string   `json:"model"`
	LoRAName *string  `json:"lora_name"`
	Pods     []string `json:"pods"`
}

// PodScore is one pod's entry in a score response, best first.
type PodScore struct {
	Pod string `json:"pod"`
	// HitBlocks: the leading blocks of the prompt the pod holds itself;
	// Medium the slowest medium among them ("" when none).
	HitBlocks int    `json:"hit_blocks"`
	Medium    string `json:"medium"`
	// PlaneBlocks: the blocks after those that a StrataCache node holds
	// (the pod's connector loads them), up to the first block nobody has.
	PlaneBlocks int `json:"plane_blocks"`
	// Score: weighted cached tokens the pod need not recompute.
	Score float64 `json:"score"`
}

// NodeScore is a StrataCache node's entry (with Join): the SDK's
// ScoreNodes for the same prompt.
type NodeScore struct {
	Node         string  `json:"node"`
	Score        float64 `json:"score"`
	LocalTokens  int     `json:"local_tokens"`
	CachedTokens int     `json:"cached_tokens"`
}

// ScoreResponse is POST /v1/score's answer.
type ScoreResponse struct {
	BlockHashes []uint64    `json:"block_hashes"`
	Pods        []PodScore  `json:"pods"`
	Nodes       []NodeScore `json:"nodes,omitempty"`
}

type scratch struct {
	vh      []placement.VLLMHash
	hashes  []uint64
	plane   []clientsdk.Tier
	holders []kvevents.Holder
	bySlot  []int32          // pod slot -> candidate, -1
	mark    []kvevents.Media // by candidate: media holding the current block
	active  []int32
	own     []bool // by candidate: still in its own leading run
	prompt  clientsdk.Prompt
	ids     []uint64
	scores  []clientsdk.Score
}

// Hashes appends the int-form block hashes of tokens (full blocks) under
// the router's scheme, with the request's LoRA name as extra key.
func (r *Router) Hashes(dst []uint64, tokens []uint32, model string, lora *string) ([]uint64, error) {
	sc := r.getScratch()
	defer r.scratch.Put(sc)
	return r.hashes(dst, sc, tokens, model, lora)
}

func (r *Router) getScratch() *scratch {
	sc, _ := r.scratch.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	return sc
}

func (r *Router) hashes(dst []uint64, sc *scratch, tokens []uint32, model string, lora *string) ([]uint64, error) {
	bs := r.cfg.BlockSize
	if r.vh != nil {
		var x *placement.VLLMExtras
		if lora != nil && *lora != "" {
			x = &placement.VLLMExtras{LoRAName: *lora}
		}
		var err error
		sc.vh, err = r.vh.PrefixHashes(sc.vh[:0], tokens, bs, x)
		if err != nil {
			return dst, err
		}
		for i := range sc.vh {
			dst = append(dst, sc.vh[i].U64())
		}
		return dst, nil
	}
	seed := r.seed
	if model != "" || (lora != nil && *lora != "") {
		if model == "" {
			model = r.cfg.HashSeed
		}
		var extra []string
		if lora != nil && *lora != "" {
			extra = []string{*lora}
		}
		seed = placement.ModelSeed(model, extra...)
	}
	return placement.PrefixHashes(dst, seed, tokens, bs, false)
}

// Score answers one request.
func (r *Router) Score(req *ScoreRequest) (*ScoreResponse, error) {
	start := time.Now()
	if len(req.Tokens) > r.cfg.MaxTokens {
		return nil, fmt.Errorf("%w: %d tokens (at most %d)", ErrRequest, len(req.Tokens), r.cfg.MaxTokens)
	}
	sc := r.getScratch()
	defer r.scratch.Put(sc)
	hs, err := r.hashes(sc.hashes[:0], sc, req.Tokens, req.Model, req.LoRAName)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	sc.hashes = hs
	resp := &ScoreResponse{BlockHashes: append(make([]uint64, 0, len(hs)), hs...)}
	n := len(hs)
	if cap(sc.plane) < n {
		sc.plane = make([]clientsdk.Tier, n)
	}
	plane := sc.plane[:n]
	clear(plane)
	if r.nodes != nil && n > 0 {
		r.planeTiers(sc, plane, hs, req)
	}
	resp.Pods = make([]PodScore, 0, 16)
	r.scorePods(sc, resp, hs, plane, req.Pods)
	sort.SliceStable(resp.Pods, func(i, j int) bool {
		a, b := &resp.Pods[i], &resp.Pods[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if a.HitBlocks != b.HitBlocks {
			return a.HitBlocks > b.HitBlocks
		}
		return a.Pod < b.Pod
	})
	if r.nodes != nil && n > 0 && req.Model != "" {
		sc.scores = r.nodes.ScoreNodes(sc.scores[:0], &sc.prompt, nil)
		for _, s := range sc.scores {
			resp.Nodes = append(resp.Nodes, NodeScore{Node: s.Node, Score: s.Score, LocalTokens: s.LocalTokens, CachedTokens: s.CachedTokens})
		}
		sort.SliceStable(resp.Nodes, func(i, j int) bool { return resp.Nodes[i].Score > resp.Nodes[j].Score })
	}
	r.stats.observe(time.Since(start))
	return resp, nil
}

// scorePods scores every candidate in one pass over the prompt's blocks:
// one index lookup per block gives the pods that hold it; each candidate
// still counting takes the block from its own media if it holds it, else
// from the plane if a node holds it, else stops. HitBlocks is its own
// leading run.
func (r *Router) scorePods(sc *scratch, resp *ScoreResponse, hs []uint64, plane []clientsdk.Tier, filter []string) {
	pcs := r.ix.Pods()
	maxSlot := -1
	for _, pc := range pcs {
		maxSlot = max(maxSlot, pc.Slot)
	}
	if cap(sc.bySlot) < maxSlot+1 {
		sc.bySlot = make([]int32, maxSlot+1)
	}
	bySlot := sc.bySlot[:maxSlot+1]
	for i := range bySlot {
		bySlot[i] = -1
	}
	if filter == nil {
		for _, pc := range pcs {
			bySlot[pc.Slot] = int32(len(resp.Pods))
			resp.Pods = append(resp.Pods, PodScore{Pod: pc.Pod})
		}
	} else {
		for _, name := range filter {
			if s, ok := r.ix.Slot(name); ok && s <= maxSlot && bySlot[s] < 0 {
				bySlot[s] = int32(len(resp.Pods))
			}
			resp.Pods = append(resp.Pods, PodScore{Pod: name})
		}
	}
	nc := len(resp.Pods)
	if cap(sc.mark) < nc {
		sc.mark = make([]kvevents.Media, nc)
		sc.own = make([]bool, nc)
	}
	mark, own := sc.mark[:nc], sc.own[:nc]
	clear(mark)
	active := sc.active[:0]
	for _, c := range bySlot {
		if c >= 0 {
			active = append(active, c)
			own[c] = true
		}
	}
	w := &r.cfg.Weights
	bt := float64(r.cfg.BlockSize)
	for i := 0; i < len(hs) && len(active) > 0; i++ {
		sc.holders = r.ix.AppendHolders(sc.holders[:0], hs[i])
		for _, h := range sc.holders {
			if h.Slot <= maxSlot {
				if c := bySlot[h.Slot]; c >= 0 {
					mark[c] = h.Media
				}
			}
		}
		pw := 0.0
		if t := plane[i]; t != clientsdk.TierNone {
			pw = w.plane(t)
		}
		keep := active[:0]
		for _, c := range active {
			ps := &resp.Pods[c]
			if m := mark[c]; m != 0 {
				f := m.Fastest()
				ps.Score += bt * w.own(f)
				if own[c] {
					ps.HitBlocks++
					if f > kvevents.MediaOf(ps.Medium) || ps.Medium == "" {
						ps.Medium = f.String()
					}
				}
			} else if pw > 0 {
				own[c] = false
				ps.Score += bt * pw
				ps.PlaneBlocks++
			} else {
				continue // the usable prefix ends here for this pod
			}
			keep = append(keep, c)
		}
		active = keep
		for _, h := range sc.holders {
			if h.Slot <= maxSlot {
				if c := bySlot[h.Slot]; c >= 0 {
					mark[c] = 0
				}
			}
		}
	}
	sc.active = active[:0]
}

// planeTiers fills plane[i] with the tier a StrataCache node holds block i
// in (the chunk key the nodes store it under: artifact.KVKey with the
// request's model, the block's int-form hash and all layers), and
// prepares sc.prompt for the SDK's ScoreNodes.
func (r *Router) planeTiers(sc *scratch, plane []clientsdk.Tier, hs []uint64, req *ScoreRequest) {
	if req.Model == "" {
		return // chunk keys name their model
	}
	var extra []string
	if r.vh == nil && req.LoRAName != nil && *req.LoRAName != "" {
		extra = []string{*req.LoRAName}
	}
	sc.ids = sc.ids[:0]
	for i, h := range hs {
		id, err := artifact.KVKey{Model: req.Model, PrefixHash: h, Layers: artifact.AllLayers, Extra: extra}.ID()
		if err != nil {
			return
		}
		sc.ids = append(sc.ids, id.Hash)
		if _, t, ok := r.nodes.Owner(id.Hash); ok {
			plane[i] = t
		}
	}
	sc.prompt.Tokens = len(req.Tokens)
	if len(sc.prompt.Levels) != 1 {
		sc.prompt.Levels = make([]clientsdk.Level, 1)
	}
	sc.prompt.Levels[0] = clientsdk.Level{BlockSize: r.cfg.BlockSize, Hashes: hs, IDs: sc.ids, LastTokens: r.cfg.BlockSize}
}

// PodInfo is one followed pod in GET /v1/pods.
type PodInfo struct {
	Pod         string    `json:"pod"`
	Blocks      int       `json:"blocks"`
	LastSeq     int64     `json:"last_seq"`
	Connected   bool      `json:"connected"`
	Batches     uint64    `json:"batches"`
	Events      uint64    `json:"events"`
	Malformed   uint64    `json:"malformed"`
	Unknown     uint64    `json:"unknown_events"`
	Gaps        uint64    `json:"gaps"`
	Replayed    uint64    `json:"gaps_replayed"`
	Unrecovered uint64    `json:"gaps_unrecovered"`
	Restarts    uint64    `json:"restarts"`
	Clears      uint64    `json:"clears"`
	Dropped     uint64    `json:"dropped_blocks"`
	BlockSize   int       `json:"block_size"`
	LastEvent   time.Time `json:"last_event,omitzero"`
}

// Pods lists the followed pods, sorted by name.
func (r *Router) Pods() []PodInfo {
	counts := map[string]kvevents.PodCount{}
	for _, pc := range r.ix.Pods() {
		counts[pc.Pod] = pc
	}
	var out []PodInfo
	for _, st := range r.sub.Stats() {
		pc := counts[st.Pod]
		out = append(out, PodInfo{Pod: st.Pod, Blocks: pc.Blocks, LastSeq: st.LastSeq, Connected: st.Connected,
			Batches: st.Batches, Events: st.Events, Malformed: st.Malformed, Unknown: st.Unknown, Gaps: st.Gaps,
			Replayed: st.Replayed, Unrecovered: st.Unrecovered, Restarts: st.Restarts, Clears: st.Clears,
			Dropped: pc.Dropped, BlockSize: st.BlockSize, LastEvent: st.LastEvent})
	}
	return out
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node"
)

// runLocalCluster starts N clustered nodes in this process, all on
// loopback, each with its own RESP, native and admin ports, and prints a
// live table of the cluster until SIGINT/SIGTERM or -duration.
func runLocalCluster(args []string, stdout, stderr io.Writer) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return localCluster(args, stdout, stderr, sigs)
}

func localCluster(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) error {
	fs := flag.NewFlagSet("local-cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "number of nodes")
	cpuMB := fs.Int64("cpu-capacity-mb", 64, "CPU tier of each node, MiB")
	useCXL := fs.Bool("use-cxl", false, "give each node a CXL pool file (under -data-dir), the tier peers demote into")
	cxlMB := fs.Int64("cxl-capacity-mb", 128, "CXL pool of each node, MiB (with -use-cxl)")
	dataDir := fs.String("data-dir", "", "directory for the nodes' pool files (default: a temporary directory, removed at exit)")
	basePort := fs.Int("base-port", 0, "ports: RESP base+i, native base+100+i, admin base+200+i (0: any free ports)")
	interval := fs.Duration("interval", time.Second, "table refresh interval")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	demo := fs.Int("demo", 0, "store this many 64 KiB artifacts on node 0 and read them from every other node")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes < 1 || *nodes > 64 {
		return fmt.Errorf("local-cluster: -nodes %d: want 1..64", *nodes)
	}
	if *interval <= 0 || *cpuMB <= 0 || *duration < 0 || *demo < 0 {
		return errors.New("local-cluster: -interval and -cpu-capacity-mb must be positive, -duration and -demo not negative")
	}
	dir := *dataDir
	if dir == "" && *useCXL {
		tmp, err := os.MkdirTemp("", "stratacache-local-cluster-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	port := func(off, i int) string {
		if *basePort == 0 {
			return "127.0.0.1:0"
		}
		return "127.0.0.1:" + strconv.Itoa(*basePort+off+i)
	}
	var ns []*node.Node
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := len(ns) - 1; i >= 0; i-- {
			_ = ns[i].Shutdown(ctx)
		}
	}()
	for i := 0; i < *nodes; i++ {
		cfg := node.Defaults()
		cfg.CPUCapacityMB = *cpuMB
		cfg.Disk.CapacityMB = 0
		cfg.Listen = node.ListenConfig{RESP: port(0, i), Native: port(100, i), Admin: port(200, i)}
		if *useCXL {
			cfg.UseCXL = true
			cfg.CXLCapacityMB = *cxlMB
			cfg.CXLPath = filepath.Join(dir, fmt.Sprintf("node-%d.cxl", i))
			cfg.CXLResetMetadata = true
		}
		cfg.Cluster = node.ClusterConfig{Name: fmt.Sprintf("node-%d", i), Bind: "127.0.0.1:0", Peer: "127.0.0.1:0", Preset: "local"}
		if i > 0 {
			cfg.Cluster.Join = []string{ns[0].Cluster().GossipAddr()}
		}
		n, err := node.New(cfg, log)
		if err != nil {
			return fmt.Errorf("local-cluster: node %d: %w", i, err)
		}
		n.Start()
		ns = append(ns, n)
	}
	for i, n := range ns {
		a := n.Addrs()
		fmt.Fprintf(stdout, "node-%d resp=%s native=%s admin=%s gossip=%s peer=%s\n",
			i, a.RESP, a.Native, a.Admin, n.Cluster().GossipAddr(), n.Cluster().PeerAddr())
	}
	// The live web view (members, tiers, charts): every node serves its
	// own at its admin address.
	fmt.Fprintf(stdout, "web view: http://%s/ (every node serves its own at its admin address)\n", ns[0].Addrs().Admin)
	if *demo > 0 {
		if err := runDemo(ns, *demo); err != nil {
			return err
		}
	}
	var stop <-chan time.Time
	if *duration > 0 {
		stop = time.After(*duration)
	}
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		printClusterTable(stdout, ns)
		printHolders(stdout, ns, *demo)
		select {
		case <-tick.C:
		case <-stop:
			return nil
		case <-sigs:
			return nil
		}
	}
}

// runDemo stores artifacts on node 0 and reads each from every other node,
// so the table shows remote hits straight away.
func runDemo(ns []*node.Node, count int) error {
	ctx := context.Background()
	payload := make([]byte, 64<<10)
	for i := 0; i < count; i++ {
		id := artifact.MustID(artifact.NamespaceBlob, "demo/"+strconv.Itoa(i))
		payload[0] = byte(i)
		if err := ns[0].Engine().Store(ctx, id, payload, actors.StoreOptions{}); err != nil {
			return fmt.Errorf("local-cluster demo: store: %w", err)
		}
	}
	// A read succeeds once the reader has met node-0 and learnt from the
	// gossiped directory that node-0 owns the artifact (before that it asks
	// the rendezvous home, which may be another node): retry each read
	// until then, within a bound.
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range ns[1:] {
		for i := 0; i < count; i++ {
			id := artifact.MustID(artifact.NamespaceBlob, "demo/"+strconv.Itoa(i))
			for {
				_, err := n.Engine().Load(ctx, nil, id, actors.Chain())
				if err == nil {
					break
				}
				if !errors.Is(err, actors.ErrNotFound) || time.Now().After(deadline) {
					return fmt.Errorf("local-cluster demo: %s reading %s: %w", n.Cluster().Name(), id, err)
				}
				time.Sleep(10 * time.Millisecond) // polling a condition: the directory entry's arrival
			}
		}
	}
	return nil
}

func printClusterTable(w io.Writer, ns []*node.Node) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\n", time.Now().Format("15:04:05"))
	fmt.Fprintln(tw, "node\tmembers\tcpu used\tcpu cap\tartifacts\thits\tmisses\tremote hits\tremote misses\tdirectory\theld\t")
	var st actors.EngineStats
	for _, n := range ns {
		n.Engine().Stats(&st)
		var used, capacity, arts int64
		var hits, misses uint64
		for _, t := range st.Tiers {
			if t.Kind.String() == "remote" {
				continue
			}
			arts += t.Artifacts
			hits += t.Hits
			if t.Name == node.CPUTierName {
				used, capacity, misses = t.UsedBytes, t.CapacityBytes, t.Misses
			}
		}
		cs := n.Cluster().Stats()
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", n.Cluster().Name(), cs.Members,
			mib(used), mib(capacity), arts, hits, misses, cs.Remote.Hits, cs.Remote.Misses, cs.DirectoryEntries, cs.Held)
	}
	_ = tw.Flush()
}

// printHolders lists, for the first demo artifacts, every holder the
// directory's replicas list (one batched lookup from node 0): the holder
// sets, with the tier kind each holder reported.
func printHolders(w io.Writer, ns []*node.Node, count int) {
	count = min(count, 8)
	if count == 0 {
		return
	}
	ids := make([]artifact.ID, count)
	for i := range ids {
		ids[i] = artifact.MustID(artifact.NamespaceBlob, "demo/"+strconv.Itoa(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	hs, err := ns[0].Cluster().Lookup(ctx, ids)
	if err != nil {
		fmt.Fprintf(w, "holders: %v\n", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "artifact\tholders (node:tier kind)\t")
	for i, id := range ids {
		var names []string
		for _, o := range hs[i] {
			names = append(names, o.Node+":"+o.Kind.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", id.Key, strings.Join(names, " "))
	}
	_ = tw.Flush()
}

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + "M" }

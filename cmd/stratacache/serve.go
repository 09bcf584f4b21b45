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
	"strings"
	"syscall"
	"time"

	"github.com/stratacache/stratacache/node"
)

// runServe runs one node until SIGINT or SIGTERM, then shuts it down
// gracefully (in-flight requests finish, write-back links drain, tiers
// close); a second signal abandons the drain and returns at once.
func runServe(args []string, stdout, stderr io.Writer) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return serve(args, stdout, stderr, os.Environ(), sigs, nil)
}

// serve is runServe with its environment ("NAME=value" entries), signals
// and a started-hook injected, so tests can drive it without signalling the
// test process.
func serve(args []string, stdout, stderr io.Writer, environ []string,
	sigs <-chan os.Signal, started func(*node.Node)) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: stratacache serve [-config file.yaml] [flags]\n\n"+
			"Runs one node. Configuration: built-in defaults, then the YAML file (-config, else\n"+
			"$STRATACACHE_CONFIG, ./stratacache.yaml, /etc/stratacache/stratacache.yaml), then\n"+
			"STRATACACHE_* environment variables, then these flags (docs/config.md).\n\n")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "YAML configuration file")
	respAddr := fs.String("resp-addr", node.DefaultRESPAddr, "Redis-compatible (RESP2) listen address; \"\" disables it")
	nativeAddr := fs.String("native-addr", node.DefaultNativeAddr, "native protocol listen address; \"\" disables it")
	adminAddr := fs.String("admin-addr", node.DefaultAdminAddr, "admin HTTP listen address; \"\" disables it")
	dataDir := fs.String("data-dir", node.DefaultDataDir, "directory of the persistent tiers")
	cpuMB := fs.Int64("cpu-capacity-mb", node.Defaults().CPUCapacityMB, "CPU tier capacity in MiB")
	diskMB := fs.Int64("disk-capacity-mb", node.DefaultDiskCapacityMB, "disk tier size in MiB, pre-allocated in -data-dir; 0 disables the tier")
	join := fs.String("join", "", "comma-separated gossip host:port of cluster members to join (turns the cluster on)")
	clusterBind := fs.String("cluster-bind", "", "gossip listen host:port (turns the cluster on; default "+node.DefaultGossipAddr+")")
	clusterPeer := fs.String("cluster-peer", "", "peer transport listen host:port (default "+node.DefaultPeerAddr+")")
	nodeName := fs.String("node-name", "", "this node's unique name in the cluster (default: host name and peer port)")
	debug := fs.Bool("debug", false, "debug logging")
	jsonLog := fs.Bool("log-json", false, "log as JSON lines instead of text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	// Unknown STRATACACHE_ variables are refused before anything else: a
	// mistyped override must not be silently ignored.
	if err := node.CheckEnv(environ); err != nil {
		return err
	}
	lookupEnv := func(name string) (string, bool) {
		for i := len(environ) - 1; i >= 0; i-- { // the last of duplicates wins, as in getenv
			if k, v, _ := strings.Cut(environ[i], "="); k == name {
				return v, true
			}
		}
		return "", false
	}
	cfg, source, err := node.Load(*configPath)
	if err != nil {
		return err
	}
	if *configPath != "" && source == "" {
		return fmt.Errorf("serve: config file %s: %w", *configPath, os.ErrNotExist)
	}
	if err := cfg.ApplyEnv(lookupEnv); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "resp-addr":
			cfg.Listen.RESP = *respAddr
		case "native-addr":
			cfg.Listen.Native = *nativeAddr
		case "admin-addr":
			cfg.Listen.Admin = *adminAddr
		case "data-dir":
			cfg.Disk.Path = *dataDir
		case "cpu-capacity-mb":
			cfg.CPUCapacityMB = *cpuMB
		case "disk-capacity-mb":
			cfg.Disk.CapacityMB = *diskMB
		case "join":
			cfg.Cluster.Join = splitList(*join)
		case "cluster-bind":
			cfg.Cluster.Bind = *clusterBind
		case "cluster-peer":
			cfg.Cluster.Peer = *clusterPeer
		case "node-name":
			cfg.Cluster.Name = *nodeName
		case "debug":
			cfg.Debug = *debug
		}
	})
	if err := cfg.Validate(); err != nil {
		return err
	}
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	if *jsonLog {
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	} else {
		log = slog.New(slog.NewTextHandler(stderr, opts))
	}
	if source == "" {
		source = "built-in defaults"
	}
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	n.Start()
	a := n.Addrs()
	log.Info("stratacache serving", "version", version, "resp", a.RESP, "native", a.Native, "admin", a.Admin,
		"config", source, "tiers", strings.Join(n.Engine().Tiers(), ","))
	log.Info("effective config", cfg.LogAttrs()...)
	if cfg.Disk.CapacityMB > 0 {
		path, err := filepath.Abs(filepath.Join(cfg.Disk.Path, node.DiskFileName))
		if err != nil {
			path = filepath.Join(cfg.Disk.Path, node.DiskFileName)
		}
		log.Info("disk tier: a pre-allocated file holds values the CPU tier evicts; change its size with "+
			"disk.capacity_mb, STRATACACHE_DISK_CAPACITY_MB or -disk-capacity-mb (0 disables it), its place with -data-dir",
			"path", path, "size_mb", cfg.Disk.CapacityMB)
	}
	fmt.Fprintf(stdout, "resp=%s native=%s admin=%s\n", a.RESP, a.Native, a.Admin)
	if cn := n.Cluster(); cn != nil {
		log.Info("cluster member", "name", cn.Name(), "gossip", cn.GossipAddr(), "peer", cn.PeerAddr(),
			"join", strings.Join(cfg.Cluster.Join, ","))
		fmt.Fprintf(stdout, "node=%s gossip=%s peer=%s\n", cn.Name(), cn.GossipAddr(), cn.PeerAddr())
	}
	if started != nil {
		started(n)
	}
	var runErr error
	select {
	case s := <-sigs:
		log.Info("shutting down: finishing requests and draining write-back (signal again to force)", "signal", s)
	case runErr = <-n.Err():
		log.Error("a server failed; shutting down", "err", runErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Limits.ShutdownTimeoutS*float64(time.Second)))
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- n.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			log.Error("shutdown", "err", err)
			return errors.Join(runErr, err)
		}
		log.Info("stopped", "drain", time.Since(start).Round(time.Millisecond))
		return runErr
	case s := <-sigs:
		log.Warn("second signal: exiting without finishing the drain", "signal", s)
		return fmt.Errorf("serve: forced exit on second signal (%s) during shutdown", s)
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

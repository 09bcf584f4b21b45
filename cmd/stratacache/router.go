package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/stratacache/stratacache/kvevents"
	"github.com/stratacache/stratacache/placement"
	"github.com/stratacache/stratacache/router"
)

// DefaultRouterListen is the router's HTTP address (loopback, like every
// port of the node).
const DefaultRouterListen = "127.0.0.1:8090"

func runRouter(args []string, stdout, stderr io.Writer) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return routerCmd(args, stdout, stderr, os.Getenv("STRATACACHE_AUTH_TOKEN"), sigs, nil)
}

// routerCmd runs `stratacache router` until a signal arrives; ready (tests)
// receives the bound HTTP address.
func routerCmd(args []string, stdout, stderr io.Writer, token string, sigs <-chan os.Signal, ready chan<- string) error {
	fs := flag.NewFlagSet("router", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", DefaultRouterListen, "HTTP address of the routing API")
	events := fs.String("kv-events", "", "vLLM pods' KV event PUB sockets: POD=tcp://host:port[,POD=...]")
	replay := fs.String("kv-replay", "", "their ROUTER replay sockets: POD=tcp://host:port[,POD=...] (optional)")
	scheme := fs.String("hash-scheme", placement.SchemeVLLM, "block hash scheme: vllm or stratacache (docs/hashing.md)")
	seed := fs.String("hash-seed", "", "vllm: the pods' PYTHONHASHSEED (required); stratacache: the default model name")
	blockSize := fs.Int("block-size", 16, "the pods' KV block size in tokens (vLLM's --block-size)")
	join := fs.String("join", "", "StrataCache nodes' native addresses (host:port[,host:port]) to follow the cluster through the SDK")
	sync := fs.Duration("join-interval", time.Second, "how often the cluster's directory is pulled (with -join)")
	silence := fs.Duration("silence-timeout", 60*time.Second, "clear a pod unreachable this long (negative: never)")
	idle := fs.Duration("idle-timeout", 0, "clear a connected pod silent this long (0: never; vLLM is silent while idle)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: stratacache router -kv-events POD=tcp://host:port[,...] [-kv-replay POD=tcp://...] -hash-scheme vllm -hash-seed S [-block-size 16] [-join host:port] [-listen 127.0.0.1:8090]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("router: unexpected arguments %q", fs.Args())
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("router: -log-level %q: %w", *logLevel, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	srcs, err := kvevents.ParseSources(*events, *replay)
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	var seeds []string
	for _, s := range strings.Split(*join, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(srcs) == 0 && len(seeds) == 0 {
		return errors.New("router: nothing to follow: give -kv-events (vLLM pods) and/or -join (a StrataCache cluster)")
	}
	r, err := router.New(router.Config{
		Sources: srcs, HashScheme: *scheme, HashSeed: *seed, BlockSize: *blockSize,
		Join: seeds, JoinToken: token, SyncInterval: *sync, Logger: log,
		Subscriber: kvevents.SubscriberConfig{SilenceTimeout: *silence, IdleTimeout: *idle, Seed: time.Now().UnixNano()},
	})
	if err != nil {
		return err
	}
	defer r.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("router: -listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("router: serving", "listen", ln.Addr().String(), "pods", len(srcs), "join", seeds, "hash_scheme", *scheme, "block_size", *blockSize)
	fmt.Fprintf(stdout, "router listening on http://%s\n", ln.Addr())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case sig := <-sigs:
		log.Info("router: stopping", "signal", sig.String())
	case err := <-errc:
		return fmt.Errorf("router: %w", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	err = srv.Shutdown(sctx)
	return errors.Join(err, r.Close())
}

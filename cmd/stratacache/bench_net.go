package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratacache/stratacache/node"
	"github.com/stratacache/stratacache/node/netbench"
)

// runBenchNet is `stratacache bench net`: one load generator for our native
// and RESP ports, any Redis or memcached address, and plain loopback TCP
// (-raw-tcp) as the ceiling. Every case prints one JSON line.
func runBenchNet(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench net", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: stratacache bench net [-native addr] [-resp addr] [-redis addr] [-memcached addr] [-self] [-raw-tcp] [flags]\n\n"+
			"With no target, -self starts an in-process node and measures its native and RESP ports.\n\n")
		fs.PrintDefaults()
	}
	nativeAddr := fs.String("native", "", "a StrataCache native-protocol address")
	respAddr := fs.String("resp", "", "a StrataCache RESP address")
	redisAddr := fs.String("redis", "", "a Redis server address")
	memcachedAddr := fs.String("memcached", "", "a memcached address (start it with -I 32m for 16 MiB values)")
	self := fs.Bool("self", false, "start an in-process node on loopback and measure its native and RESP ports")
	rawTCP := fs.Bool("raw-tcp", false, "also measure plain loopback TCP moving the same bytes (the ceiling)")
	sizes := fs.String("sizes", "4KiB,64KiB,1MiB,4MiB,16MiB", "value sizes")
	ops := fs.String("ops", "set,get", "operations: set, get")
	conc := fs.Int("c", 4, "concurrent connections")
	pipeline := fs.Int("P", 1, "pipeline: requests sent in one write before reading their replies (native, resp, redis targets; latencies are per batch)")
	nativeClient := fs.String("native-client", "plain", "client of the native targets: plain (frames in line, like the other targets' minimal clients) or sdk (native.Client, the framed client clientsdk uses)")
	dur := fs.Duration("duration", 3*time.Second, "time per case")
	token := fs.String("token", "", "auth token for the StrataCache targets")
	cpuMB := fs.Int64("cpu-capacity-mb", 2048, "CPU tier of the -self node, MiB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sz, err := parseSizes(*sizes)
	if err != nil {
		return err
	}
	type target struct{ name, kind, addr, token string }
	var targets []target
	if *rawTCP {
		srv, err := netbench.NewRawServer("127.0.0.1:0", slices.Max(sz))
		if err != nil {
			return err
		}
		defer srv.Close()
		targets = append(targets, target{"raw-tcp", "raw", srv.Addr(), ""})
	}
	if *nativeAddr == "" && *respAddr == "" && *redisAddr == "" && *memcachedAddr == "" && !*rawTCP {
		*self = true
	}
	if *self {
		cfg := node.Defaults()
		cfg.CPUCapacityMB = *cpuMB
		cfg.Disk.CapacityMB = 0 // a network benchmark: keep the disk out of it
		cfg.Listen = node.ListenConfig{RESP: "127.0.0.1:0", Native: "127.0.0.1:0"}
		cfg.Telemetry.Export = false
		cfg.Auth.Token = *token
		n, err := node.New(cfg, nil)
		if err != nil {
			return err
		}
		n.Start()
		defer n.Shutdown(context.Background())
		a := n.Addrs()
		targets = append(targets, target{"self-native", "native", a.Native, *token}, target{"self-resp", "resp", a.RESP, *token})
	}
	for _, t := range []target{
		{"native", "native", *nativeAddr, *token},
		{"resp", "resp", *respAddr, *token},
		{"redis", "redis", *redisAddr, ""},
		{"memcached", "memcached", *memcachedAddr, ""},
	} {
		if t.addr != "" {
			targets = append(targets, t)
		}
	}
	var errs []error
	enc := json.NewEncoder(stdout)
	for _, size := range sz {
		for _, op := range strings.Split(*ops, ",") {
			for _, t := range targets {
				r, err := netbench.Run(netbench.Case{Target: t.name, Kind: t.kind, Addr: t.addr, Token: t.token,
					Op: strings.TrimSpace(op), Size: size, Concurrency: *conc, Duration: *dur, Pipeline: *pipeline, NativeClient: *nativeClient})
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s %d: %w", t.name, op, size, err))
					fmt.Fprintf(stderr, "bench net: %s %s %d B: %v\n", t.name, op, size, err)
					continue
				}
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		}
	}
	return errors.Join(errs...)
}

// parseSizes reads "4KiB,64KiB,1MiB" (also plain bytes, KB/MB/GB as KiB/MiB/GiB).
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		for _, u := range []struct {
			suffix string
			mult   int
		}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"B", 1}} {
			if strings.HasSuffix(f, u.suffix) {
				f, mult = strings.TrimSuffix(f, u.suffix), u.mult
				break
			}
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bench net: bad size %q", f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, errors.New("bench net: no sizes")
	}
	return out, nil
}

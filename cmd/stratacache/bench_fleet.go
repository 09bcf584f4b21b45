package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/stratacache/stratacache/cluster"
)

// runBenchFleet measures the partitioned directory (docs/cluster.md) on an
// in-process cluster and prints one JSON object (-json) or the same
// figures as text.
func runBenchFleet(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := cluster.DefaultFleetOptions()
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.IntVar(&o.Nodes, "nodes", o.Nodes, "nodes in the cluster")
	fs.IntVar(&o.Replicas, "replicas", o.Replicas, "directory replicas R")
	fs.IntVar(&o.Artifacts, "artifacts", o.Artifacts, "artifacts stored before the measurements")
	fs.IntVar(&o.Trials, "trials", o.Trials, "lookup and visibility trials")
	fs.IntVar(&o.Churn, "churn", o.Churn, "nodes killed and joined")
	fs.StringVar(&o.Preset, "preset", "local", "memberlist and anti-entropy timings: local or lan")
	fs.DurationVar(&o.AntiEntropy, "anti-entropy", 0, "override the preset's anti-entropy interval (local: 5s, lan: 10s)")
	fs.IntVar(&o.SteadyPasses, "steady-passes", 6, "anti-entropy intervals the steady (model check) phase lasts")
	quiet := fs.Bool("quiet", false, "no per-phase progress lines on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile at the end of the run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*quiet {
		o.Progress = stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		// An interrupted run (a run that does not finish is what a profile
		// is wanted for) still writes the profile of what it did.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		defer signal.Stop(sig)
		go func() {
			if _, ok := <-sig; ok {
				pprof.StopCPUProfile()
				_ = f.Close()
				fmt.Fprintln(stderr, "bench fleet: interrupted; CPU profile written to", *cpuProfile)
				os.Exit(130)
			}
		}()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			f, err := os.Create(*memProfile)
			if err != nil {
				fmt.Fprintln(stderr, "bench fleet: memprofile:", err)
				return
			}
			defer f.Close()
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fmt.Fprintln(stderr, "bench fleet: memprofile:", err)
			}
		}()
	}
	if o.Nodes < 2 || o.Replicas < 1 || o.Artifacts < 1 || o.Trials < 1 || o.Churn < 0 || o.Churn >= o.Nodes-1 {
		return fmt.Errorf("bench fleet: need nodes >= 2, replicas >= 1, artifacts >= 1, trials >= 1, 0 <= churn < nodes-1")
	}
	r, err := cluster.RunFleet(o)
	if err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	r.Load = loadAvg1()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(b))
	return err
}

// loadAvg1 is the 1-minute load average (0 where /proc/loadavg is absent).
func loadAvg1() float64 {
	f := strings.Fields(loadAvg())
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

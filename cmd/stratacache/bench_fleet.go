package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
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
	if err := fs.Parse(args); err != nil {
		return err
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

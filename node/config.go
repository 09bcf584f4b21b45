package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrConfig is wrapped by every configuration error: unknown keys, bad
// values, unreadable files, bad environment overrides.
var ErrConfig = errors.New("node: invalid config")

// Config is a node's configuration. The YAML keys are the field tags; the
// seed StrataCache's keys keep their names and meaning. Every field has a
// default (Defaults), so an empty file is a valid configuration.
type Config struct {
	// UseCXL adds the CXL/DAX tier below the CPU tier.
	UseCXL bool `yaml:"use_cxl"`
	// Writeback makes the links between tiers write-back (dirty set,
	// background flush) instead of write-through.
	Writeback bool `yaml:"writeback"`
	// CPUCapacityMB is the CPU tier's byte budget in MiB.
	CPUCapacityMB int64 `yaml:"cpu_capacity_mb"`
	// CPUPolicy is the CPU tier's eviction policy (lru, fifo, lfu, s3fifo,
	// sieve, arc, prefix).
	CPUPolicy string `yaml:"cpu_policy"`
	// ChunkSize is the KV chunk size in tokens clients should use (reported
	// in INFO and the HELLO reply; the node stores whatever it is given).
	ChunkSize int `yaml:"chunk_size"`
	// SavePartialChunks tells clients to store a trailing partial chunk.
	SavePartialChunks bool `yaml:"save_partial_chunks"`
	// LogStats logs the engine's stats every LogEvery requests, at most once
	// per LogMinIntervalS seconds.
	LogStats        bool    `yaml:"log_stats"`
	LogEvery        int64   `yaml:"log_every"`
	LogMinIntervalS float64 `yaml:"log_min_interval_s"`
	// Debug switches logging to debug level.
	Debug bool `yaml:"debug"`
	// CXLDaxDevice is the DAX device (or file) backing the CXL tier.
	CXLDaxDevice string `yaml:"cxl_dax_device"`
	// CXLPath is the pool file used when CXLDaxDevice is empty (default
	// /dev/shm/stratacache-cxl.pool).
	CXLPath string `yaml:"cxl_path"`
	// CXLCapacityMB is the CXL tier's budget in MiB (a file pool's size; a
	// DAX device's size decides for itself).
	CXLCapacityMB int64 `yaml:"cxl_capacity_mb"`
	// CXLResetMetadata wipes the CXL pool's persistent index at start.
	CXLResetMetadata bool `yaml:"cxl_reset_metadata"`
	// Insecure lets the node serve a non-loopback address without
	// auth.token (Redis's protected mode off). Without it such a
	// configuration is refused at start.
	Insecure bool `yaml:"insecure"`

	Telemetry TelemetryConfig `yaml:"telemetry"`
	Disk      DiskConfig      `yaml:"disk"`
	Cluster   ClusterConfig   `yaml:"cluster"`
	Listen    ListenConfig    `yaml:"listen"`
	Auth      AuthConfig      `yaml:"auth"`
	TLS       TLSConfig       `yaml:"tls"`
	Limits    LimitsConfig    `yaml:"limits"`
	KVEvents  KVEventsConfig  `yaml:"kv_events"`
}

// TelemetryConfig: Export serves Prometheus metrics on the admin port's
// /metrics.
type TelemetryConfig struct {
	Export bool `yaml:"export"`
	// Pprof serves Go's profiler on the admin port's /debug/pprof/ (behind
	// auth.token when one is set); off by default.
	Pprof bool `yaml:"pprof"`
}

// DiskConfig is the local disk tier at the bottom of the chain: one file,
// Path/disk.tier. CapacityMB 0 disables it.
type DiskConfig struct {
	Path       string `yaml:"path"`
	CapacityMB int64  `yaml:"capacity_mb"`
	// Durability is when a store reaches stable storage: none (the kernel
	// decides), batch (synced every 100 ms) or sync (before the store is
	// acknowledged).
	Durability string `yaml:"durability"`
}

// DiskFileName is the disk tier's file inside disk.path.
const DiskFileName = "disk.tier"

// ClusterConfig makes the node a cluster member (docs/cluster.md). The node
// runs alone while both Bind and Join are empty; either one turns the
// cluster on, and the remote tier joins the end of the chain.
type ClusterConfig struct {
	// Join lists host:port gossip addresses of existing members.
	Join []string `yaml:"join"`
	// GossipKey: base64 AES keys (16, 24 or 32 bytes), comma-separated; the
	// first encrypts, all decrypt (rotation). Empty: gossip in the clear.
	GossipKey string `yaml:"gossip_key"`
	// Bind is the gossip host:port (UDP and TCP). Default when the cluster
	// is on: 127.0.0.1:7946.
	Bind string `yaml:"bind"`
	// Peer is the peer transport's host:port. Default 127.0.0.1:7947.
	Peer string `yaml:"peer"`
	// Name is this node's unique name. Default: the host name plus the
	// peer port, so several nodes on one host differ.
	Name string `yaml:"name"`
	// Preset is "lan" (memberlist's LAN timings, the default) or "local"
	// (loopback timings, for one-host clusters and tests).
	Preset string `yaml:"preset"`
}

// Enabled reports whether the node is a cluster member.
func (c ClusterConfig) Enabled() bool { return c.Bind != "" || len(c.Join) > 0 }

// ListenConfig holds the three listen addresses; "" disables a port.
type ListenConfig struct {
	RESP   string `yaml:"resp"`
	Native string `yaml:"native"`
	Admin  string `yaml:"admin"`
	// DisableEventLoop gives every connection of the RESP and native
	// ports its own goroutine from the start. By default (false) each port
	// serves small requests on one epoll event loop (Linux, without TLS)
	// and moves a connection to a goroutine for a large value
	// (docs/node.md, "Which connection runs where"). Phrased as the
	// exception so that a ListenConfig literal keeps the default.
	DisableEventLoop bool `yaml:"disable_event_loop"`
}

// AuthConfig: when Token is set, RESP clients must AUTH and native clients
// must present it in HELLO. The cluster's peer port tells three roles
// apart by token (docs/cluster.md, "Credentials"): PeerToken is the
// nodes' own (demote, delete, directory writes), Token the clients'
// (reads, prefetch, directory views), SubscriberToken read-only
// followers'. A clustered node with Token or SubscriberToken set needs
// PeerToken: a client credential never grants the peer role (Validate).
type AuthConfig struct {
	Token           string `yaml:"token"`
	PeerToken       string `yaml:"peer_token"`
	SubscriberToken string `yaml:"subscriber_token"`
}

// TLSConfig: with both set, the RESP and native ports speak TLS.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.Cert != "" || t.Key != "" }

// LimitsConfig bounds what one client can make the node hold.
type LimitsConfig struct {
	// MaxPayloadMB bounds one value; larger ones are refused before any
	// buffer is allocated.
	MaxPayloadMB int64 `yaml:"max_payload_mb"`
	// MaxConnections bounds concurrent client connections per port.
	MaxConnections int `yaml:"max_connections"`
	// MaxRequestMB bounds the bytes one request (all values of an MSET or
	// MPUT together) makes a connection buffer.
	MaxRequestMB int64 `yaml:"max_request_mb"`
	// MaxBatch bounds the keys of one batch request.
	MaxBatch int `yaml:"max_batch"`
	// MaxInflightMB bounds the value bytes in flight on all client
	// connections together (values arriving, large replies leaving); a
	// request that would exceed it waits InflightWaitS, then is refused
	// (RESP -BUSY, native busy) with nothing allocated for it.
	MaxInflightMB int64   `yaml:"max_inflight_mb"`
	InflightWaitS float64 `yaml:"inflight_wait_s"`
	// IdleTimeoutS closes a connection that sends nothing between requests
	// for this long.
	IdleTimeoutS float64 `yaml:"idle_timeout_s"`
	// ReadTimeoutS bounds each 4 MiB of a value that is arriving: a client
	// that stalls mid-value is cut off and its reservation freed.
	ReadTimeoutS float64 `yaml:"read_timeout_s"`
	// WriteTimeoutS bounds each 4 MiB of replies the client must take: a
	// client that stops reading is disconnected and releases what it held.
	WriteTimeoutS float64 `yaml:"write_timeout_s"`
	// RequestTimeoutS bounds one engine operation.
	RequestTimeoutS float64 `yaml:"request_timeout_s"`
	// ShutdownTimeoutS bounds the graceful drain on shutdown.
	ShutdownTimeoutS float64 `yaml:"shutdown_timeout_s"`
}

// Default listen addresses: loopback only.
const (
	DefaultRESPAddr   = "127.0.0.1:6380"
	DefaultNativeAddr = "127.0.0.1:7380"
	DefaultAdminAddr  = "127.0.0.1:9380"
	DefaultDataDir    = "./stratacache-data"
)

// DefaultDiskCapacityMB is the disk tier's default size: the file is
// pre-allocated at start, so the default is one a laptop user will not
// mind finding in the working directory (the start-up log says where it is
// and how to change it).
const DefaultDiskCapacityMB = 256

// Defaults is a laptop-sized node on loopback: a 1 GiB CPU tier (off-heap,
// touched only as it fills) over a 256 MiB disk tier in
// ./stratacache-data, write-back.
func Defaults() Config {
	return Config{
		Writeback:       true,
		CPUCapacityMB:   1024,
		CPUPolicy:       "lru",
		ChunkSize:       256,
		LogStats:        false,
		LogEvery:        1000,
		LogMinIntervalS: 10,
		CXLCapacityMB:   1024,
		Telemetry:       TelemetryConfig{Export: true},
		Disk:            DiskConfig{Path: DefaultDataDir, CapacityMB: DefaultDiskCapacityMB, Durability: "batch"},
		Listen:          ListenConfig{RESP: DefaultRESPAddr, Native: DefaultNativeAddr, Admin: DefaultAdminAddr},
		Limits: LimitsConfig{
			MaxPayloadMB:     64,
			MaxConnections:   1024,
			MaxRequestMB:     256,
			MaxBatch:         4096,
			MaxInflightMB:    512,
			InflightWaitS:    5,
			IdleTimeoutS:     300,
			ReadTimeoutS:     10,
			WriteTimeoutS:    10,
			RequestTimeoutS:  30,
			ShutdownTimeoutS: 30,
		},
	}
}

var knownPolicies = []string{"lru", "fifo", "lfu", "s3fifo", "sieve", "arc", "prefix"}

// Validate reports every bad value at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...)))
	}
	if c.CPUCapacityMB <= 0 {
		bad("cpu_capacity_mb", "%d must be positive", c.CPUCapacityMB)
	}
	if !contains(knownPolicies, c.CPUPolicy) {
		bad("cpu_policy", "%q is not one of %v", c.CPUPolicy, knownPolicies)
	}
	if c.ChunkSize <= 0 {
		bad("chunk_size", "%d must be positive", c.ChunkSize)
	}
	if c.LogEvery <= 0 {
		bad("log_every", "%d must be positive", c.LogEvery)
	}
	if c.LogMinIntervalS < 0 {
		bad("log_min_interval_s", "%g must not be negative", c.LogMinIntervalS)
	}
	if c.UseCXL && c.CXLCapacityMB <= 0 {
		bad("cxl_capacity_mb", "%d must be positive when use_cxl is set", c.CXLCapacityMB)
	}
	if c.Disk.CapacityMB < 0 {
		bad("disk.capacity_mb", "%d must not be negative", c.Disk.CapacityMB)
	}
	if c.Disk.CapacityMB > 0 && c.Disk.Path == "" {
		bad("disk.path", "must be set when disk.capacity_mb is positive")
	}
	if !contains([]string{"none", "batch", "sync"}, c.Disk.Durability) {
		bad("disk.durability", "%q is not one of none, batch, sync", c.Disk.Durability)
	}
	for i, j := range c.Cluster.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			bad(fmt.Sprintf("cluster.join[%d]", i), "%q: %v", j, err)
		}
	}
	for _, a := range []struct{ key, addr string }{{"cluster.bind", c.Cluster.Bind}, {"cluster.peer", c.Cluster.Peer}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad(a.key, "%q: %v", a.addr, err)
		}
	}
	c.KVEvents.validate(bad)
	if !contains([]string{"", "lan", "local"}, c.Cluster.Preset) {
		bad("cluster.preset", "%q is not one of lan, local", c.Cluster.Preset)
	}
	addrs := map[string]string{}
	for _, l := range []struct{ key, addr string }{
		{"listen.resp", c.Listen.RESP}, {"listen.native", c.Listen.Native}, {"listen.admin", c.Listen.Admin},
	} {
		if l.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err != nil {
			bad(l.key, "%q: %v", l.addr, err)
		} else if other, dup := addrs[l.addr]; dup && port != "0" {
			bad(l.key, "%q is also %s", l.addr, other)
		}
		addrs[l.addr] = l.key
	}
	if c.Auth.Token == "" && !c.Insecure {
		for _, l := range []struct{ key, addr string }{
			{"listen.resp", c.Listen.RESP}, {"listen.native", c.Listen.Native}, {"listen.admin", c.Listen.Admin},
		} {
			if l.addr != "" && !IsLoopback(l.addr) {
				bad(l.key, "%q is reachable from other hosts and auth.token is empty: set auth.token "+
					"(STRATACACHE_AUTH_TOKEN), bind 127.0.0.1, or set insecure: true to serve it without authentication", l.addr)
			}
		}
	}
	if c.Cluster.Enabled() && c.Auth.PeerToken == "" {
		// The peer port grants the peer role (demote, delete, directory
		// writes) to whoever presents the peer token, and to every
		// connection when there is none. A client's or subscriber's token
		// never grants it (docs/cluster.md, "Credentials"), so a node
		// given one of those but no peer token would leave its peer port
		// either open or unusable: refused, whatever insecure says.
		switch {
		case c.Auth.Token != "" || c.Auth.SubscriberToken != "":
			bad("auth.peer_token", "is empty on a clustered node that has auth.token or auth.subscriber_token set: "+
				"the client and subscriber tokens never grant the peer role, so set auth.peer_token "+
				"(STRATACACHE_AUTH_PEER_TOKEN, the same on every node, different from the other tokens)")
		case !c.Insecure && c.Cluster.Peer != "" && !IsLoopback(c.Cluster.Peer):
			bad("cluster.peer", "%q is reachable from other hosts and auth.peer_token is empty: set auth.peer_token "+
				"(STRATACACHE_AUTH_PEER_TOKEN, the same on every node), bind 127.0.0.1, or set insecure: true "+
				"to let every connection on it act as a node", c.Cluster.Peer)
		}
	}
	if c.Listen.RESP == "" && c.Listen.Native == "" {
		bad("listen", "resp and native are both disabled: nothing would serve data")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls", "cert and key must be set together")
	}
	for _, f := range []struct{ key, path string }{{"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			bad(f.key, "%v", err)
		}
	}
	l := c.Limits
	if l.MaxPayloadMB <= 0 || l.MaxPayloadMB > 4096 {
		bad("limits.max_payload_mb", "%d must be in [1, 4096]", l.MaxPayloadMB)
	}
	if l.MaxRequestMB < l.MaxPayloadMB {
		bad("limits.max_request_mb", "%d must be at least limits.max_payload_mb (%d)", l.MaxRequestMB, l.MaxPayloadMB)
	}
	if l.MaxConnections <= 0 {
		bad("limits.max_connections", "%d must be positive", l.MaxConnections)
	}
	if l.MaxInflightMB < l.MaxPayloadMB {
		bad("limits.max_inflight_mb", "%d must be at least limits.max_payload_mb (%d)", l.MaxInflightMB, l.MaxPayloadMB)
	}
	if l.InflightWaitS < 0 {
		bad("limits.inflight_wait_s", "%g must not be negative", l.InflightWaitS)
	}
	if l.MaxBatch <= 0 {
		bad("limits.max_batch", "%d must be positive", l.MaxBatch)
	}
	if l.IdleTimeoutS <= 0 {
		bad("limits.idle_timeout_s", "%g must be positive", l.IdleTimeoutS)
	}
	if l.ReadTimeoutS <= 0 {
		bad("limits.read_timeout_s", "%g must be positive", l.ReadTimeoutS)
	}
	if l.WriteTimeoutS <= 0 {
		bad("limits.write_timeout_s", "%g must be positive", l.WriteTimeoutS)
	}
	if l.RequestTimeoutS <= 0 {
		bad("limits.request_timeout_s", "%g must be positive", l.RequestTimeoutS)
	}
	if l.ShutdownTimeoutS <= 0 {
		bad("limits.shutdown_timeout_s", "%g must be positive", l.ShutdownTimeoutS)
	}
	return errors.Join(errs...)
}

// IsLoopback reports whether the host of addr (host:port) is a loopback
// address or "localhost"; an empty host, 0.0.0.0, [::] and any other name
// listen beyond this machine.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ConfigSearchPath is where Load looks when it is given no path: the file
// named by $STRATACACHE_CONFIG, then ./stratacache.yaml, then
// /etc/stratacache/stratacache.yaml.
func ConfigSearchPath() []string {
	var p []string
	if env := os.Getenv(ConfigEnv); env != "" {
		p = append(p, env)
	}
	return append(p, "stratacache.yaml", filepath.Join("/etc", "stratacache", "stratacache.yaml"))
}

// Load reads the YAML file at path over Defaults. With path "" it tries
// ConfigSearchPath in order. An absent file is not an error: Load returns
// the defaults and source "" (built-in defaults). Unknown keys and values of
// the wrong type are errors naming the key and its line. Load does not
// apply environment overrides or validate; see ApplyEnv and Validate.
func Load(path string) (cfg Config, source string, err error) {
	candidates := []string{path}
	if path == "" {
		candidates = ConfigSearchPath()
	}
	for _, p := range candidates {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Defaults(), "", fmt.Errorf("%w: read %s: %w", ErrConfig, p, err)
		}
		cfg, err := Parse(data)
		if err != nil {
			return Defaults(), p, fmt.Errorf("%s: %w", p, err)
		}
		return cfg, p, nil
	}
	return Defaults(), "", nil
}

// Parse decodes YAML over Defaults, refusing unknown keys: each is named
// with its line and the nearest valid key.
func Parse(data []byte) (Config, error) {
	cfg := Defaults()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Defaults(), fmt.Errorf("%w: %s", ErrConfig, strings.ReplaceAll(err.Error(), "\n", ";"))
	}
	if len(doc.Content) > 0 {
		if errs := unknownKeys(doc.Content[0], reflect.TypeOf(cfg), ""); len(errs) > 0 {
			return Defaults(), errors.Join(errs...)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty document decodes as io.EOF: the defaults stand.
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Defaults(), fmt.Errorf("%w: %s", ErrConfig, strings.ReplaceAll(err.Error(), "\n", ";"))
	}
	return cfg, nil
}

// YAML renders the configuration as YAML with the token redacted (for the
// startup log and the admin page).
func (c Config) YAML() string {
	for _, tok := range []*string{&c.Auth.Token, &c.Auth.PeerToken, &c.Auth.SubscriberToken} {
		if *tok != "" {
			*tok = "<redacted>"
		}
	}
	if c.Cluster.GossipKey != "" {
		c.Cluster.GossipKey = "<redacted>"
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Sprintf("<unprintable config: %v>", err)
	}
	return string(out)
}

// KeyPaths lists every configuration key as its dotted YAML path
// ("limits.max_payload_mb"), sections ("limits") included, in field order.
func KeyPaths() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			p := prefix + tag
			out = append(out, p)
			if ft := t.Field(i).Type; ft.Kind() == reflect.Struct {
				walk(ft, p+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}

// unknownKeys reports the mapping keys of n that t (a config struct type)
// does not have, recursing into known sections, each with its line and the
// nearest valid key. Type errors are left to the strict decoder.
func unknownKeys(n *yaml.Node, t reflect.Type, prefix string) []error {
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			fields[tag] = t.Field(i).Type
		}
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fields[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: line %d: unknown key %s%s", ErrConfig, k.Line, prefix+k.Value,
				nearestKey(prefix, k.Value)))
			continue
		}
		errs = append(errs, unknownKeys(n.Content[i+1], ft, prefix+k.Value+".")...)
	}
	return errs
}

// nearestKey suggests the valid key nearest to the unknown name under
// prefix: by edit distance of the last path element, a key in the same
// section preferred, so `max_payload_mb` at the top finds
// limits.max_payload_mb and `limits.max_paylod_mb` its sibling.
func nearestKey(prefix, name string) string {
	best, bestD := "", -1
	for _, p := range KeyPaths() {
		leaf := p[strings.LastIndexByte(p, '.')+1:]
		d := editDistance(name, leaf)
		if p[:len(p)-len(leaf)] != prefix {
			d++
		}
		if bestD < 0 || d < bestD {
			best, bestD = p, d
		}
	}
	if bestD < 0 || bestD > max(len(name)/3, 2) {
		return ""
	}
	return " (did you mean " + best + "?)"
}

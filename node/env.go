package node

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// EnvPrefix starts every environment override: the YAML key path in upper
// case with "." and "_" both spelled "_", e.g. STRATACACHE_CPU_CAPACITY_MB,
// STRATACACHE_LISTEN_RESP, STRATACACHE_AUTH_TOKEN,
// STRATACACHE_CLUSTER_JOIN (comma separated).
const EnvPrefix = "STRATACACHE_"

// EnvKeys lists every environment variable ApplyEnv reads, in field order.
func EnvKeys() []string {
	var keys []string
	walkFields(reflect.ValueOf(&Config{}).Elem(), "", func(name string, _ reflect.Value) error {
		keys = append(keys, name)
		return nil
	})
	return keys
}

// ConfigEnv names the configuration file (see ConfigSearchPath); it is the
// one STRATACACHE_ variable that is not a key.
const ConfigEnv = "STRATACACHE_CONFIG"

// reservedEnvPrefixes are STRATACACHE_ variables the node never reads but
// tests and scripts of this repository use (crash-test children, bench
// switches, the binary a script runs); CheckEnv lets them pass so that a node
// started by such a test or script does not refuse them.
var reservedEnvPrefixes = []string{"STRATACACHE_TEST_", "STRATACACHE_CRASH_", "STRATACACHE_BENCH_", "STRATACACHE_BIN"}

// CheckEnv reports every STRATACACHE_ variable in environ ("NAME=value"
// entries, as os.Environ returns them) that is neither a key (EnvKeys) nor
// STRATACACHE_CONFIG, each with the nearest valid name: a mistyped override
// must not be silently ignored.
func CheckEnv(environ []string) error {
	known := map[string]bool{ConfigEnv: true}
	for _, k := range EnvKeys() {
		known[k] = true
	}
	var errs []error
	seen := map[string]bool{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] || seen[name] || reserved(name) {
			continue
		}
		seen[name] = true
		candidates := append(EnvKeys(), ConfigEnv)
		errs = append(errs, fmt.Errorf("%w: environment %s is not a configuration variable%s",
			ErrConfig, name, didYouMean(name, candidates)))
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

func reserved(name string) bool {
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// didYouMean is " (did you mean X?)" for the candidate nearest to name by
// edit distance, or "" when none is near (more than a third of the name
// would have to change).
func didYouMean(name string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(len(name)/3, 2) {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ApplyEnv overrides fields of c from environment variables; lookup is
// os.LookupEnv in production and a map in tests. A value that does not
// parse is an error naming the variable.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	return walkFields(reflect.ValueOf(c).Elem(), "", func(name string, f reflect.Value) error {
		raw, ok := lookup(name)
		if !ok {
			return nil
		}
		if err := setFromString(f, raw); err != nil {
			return fmt.Errorf("%w: environment %s=%q: %v", ErrConfig, name, raw, err)
		}
		return nil
	})
}

func walkFields(v reflect.Value, path string, visit func(name string, f reflect.Value) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		p := tag
		if path != "" {
			p = path + "_" + tag
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			if err := walkFields(f, p, visit); err != nil {
				return err
			}
			continue
		}
		if err := visit(EnvPrefix+strings.ToUpper(p), f); err != nil {
			return err
		}
	}
	return nil
}

func setFromString(f reflect.Value, raw string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported field kind %s", f.Kind())
	}
	return nil
}

// LogAttrs returns the configuration as flat slog key/value pairs named by
// their YAML key paths ("listen.resp"), secrets redacted: one readable
// startup line in text and JSON logs alike.
func (c Config) LogAttrs() []any {
	var out []any
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			p := tag
			if path != "" {
				p = path + "." + tag
			}
			f := v.Field(i)
			if f.Kind() == reflect.Struct {
				walk(f, p)
				continue
			}
			val := f.Interface()
			if (p == "auth.token" || p == "auth.peer_token" || p == "auth.subscriber_token" || p == "cluster.gossip_key") && f.String() != "" {
				val = "<redacted>"
			}
			out = append(out, p, val)
		}
	}
	walk(reflect.ValueOf(c), "")
	return out
}

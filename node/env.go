package node

import (
	"fmt"
	"reflect"
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
			if (p == "auth.token" || p == "cluster.gossip_key") && f.String() != "" {
				val = "<redacted>"
			}
			out = append(out, p, val)
		}
	}
	walk(reflect.ValueOf(c), "")
	return out
}

package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metricsql"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/stratacache/stratacache/actors"
	"github.com/stratacache/stratacache/artifact"
	"github.com/stratacache/stratacache/node"
)

// Labels Prometheus adds to every scraped series, and series it makes
// itself: the dashboard and rules may use them though no node exports them.
var (
	targetLabels     = []string{"job", "instance", "namespace"}
	prometheusSeries = []string{"up"}
)

// exported is what a live node's /metrics holds: each series name (a
// histogram's _bucket, _sum and _count included) with its label names and
// the values each label takes.
type exported map[string]map[string]map[string]bool

// liveMetrics starts a node with the configuration deploy/kubernetes ships
// (addresses moved to loopback port 0, sizes shrunk, the data directory in
// a temporary directory), gives it some traffic and scrapes its /metrics.
func liveMetrics(t *testing.T) exported {
	t.Helper()
	m := loadManifests(t)
	cm := m.configMaps["stratacache-config"]
	if cm == nil {
		t.Fatal("no stratacache-config ConfigMap")
	}
	cfg, err := node.Parse([]byte(cm.Data["stratacache.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	cfg.CPUCapacityMB = 16
	cfg.Disk.Path, cfg.Disk.CapacityMB = t.TempDir(), 32
	cfg.Listen = node.ListenConfig{RESP: "127.0.0.1:0", Native: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Cluster.Bind, cfg.Cluster.Peer, cfg.Cluster.Join, cfg.Cluster.Name = "127.0.0.1:0", "127.0.0.1:0", nil, "observed"
	cfg.Cluster.Preset = "local"
	cfg.Auth.Token, cfg.Auth.PeerToken = "observability-test", "observability-peer"
	n, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	ctx := context.Background()
	for i := range 20 {
		id := artifact.MustID(artifact.NamespaceKV, fmt.Sprintf("obs/%d", i))
		if err := n.Engine().Store(ctx, id, make([]byte, 8192), actors.StoreOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Engine().Load(ctx, nil, id, actors.Chain()); err != nil {
			t.Fatal(err)
		}
	}
	// One request per protocol server, so that the latency histogram has
	// series.
	c, err := net.Dial("tcp", n.Addrs().RESP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "AUTH %s\r\nSET k v\r\nGET k\r\n", cfg.Auth.Token)
	br := bufio.NewReader(c)
	for range 4 {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+n.Addrs().Admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+cfg.Auth.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	ex := exported{}
	add := func(name string, m *dto.Metric, extra ...string) {
		if ex[name] == nil {
			ex[name] = map[string]map[string]bool{}
		}
		for _, lp := range m.GetLabel() {
			if ex[name][lp.GetName()] == nil {
				ex[name][lp.GetName()] = map[string]bool{}
			}
			ex[name][lp.GetName()][lp.GetValue()] = true
		}
		for _, l := range extra {
			if ex[name][l] == nil {
				ex[name][l] = map[string]bool{}
			}
		}
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", m, "le")
				add(name+"_sum", m)
				add(name+"_count", m)
			case dto.MetricType_SUMMARY:
				add(name, m, "quantile")
				add(name+"_sum", m)
				add(name+"_count", m)
			default:
				add(name, m)
			}
		}
	}
	return ex
}

var grafanaVar = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)

// checkQuery parses a PromQL query (Grafana's variables replaced by
// plausible values) and checks that every metric it reads is exported,
// that every label it filters on exists on that metric, with the value it
// asks for when it asks for one, and that every label it groups or matches
// by exists on some metric it reads.
func checkQuery(t *testing.T, ex exported, where, q string) (metrics []string) {
	t.Helper()
	q = grafanaVar.ReplaceAllStringFunc(q, func(v string) string {
		switch name := grafanaVar.FindStringSubmatch(v)[1]; name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		default:
			return name
		}
	})
	e, err := metricsql.Parse(q)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, q, err)
		return nil
	}
	var groupBy []string
	metricsql.VisitAll(e, func(x metricsql.Expr) {
		switch x := x.(type) {
		case *metricsql.MetricExpr:
			for _, lfs := range x.LabelFilterss {
				name := ""
				for _, lf := range lfs {
					if lf.Label == "__name__" {
						name = lf.Value
					}
				}
				metrics = append(metrics, name)
				labels, ok := ex[name]
				if !ok {
					if !slices.Contains(prometheusSeries, name) {
						t.Errorf("%s: metric %s is not in a node's /metrics", where, name)
					}
					continue
				}
				for _, lf := range lfs {
					if lf.Label == "__name__" || slices.Contains(targetLabels, lf.Label) {
						continue
					}
					values, ok := labels[lf.Label]
					switch {
					case !ok:
						t.Errorf("%s: %s has no label %q", where, name, lf.Label)
					case !lf.IsRegexp && !lf.IsNegative && !values[lf.Value]:
						t.Errorf("%s: %s{%s=%q}: no such series (values: %v)", where, name, lf.Label, lf.Value, keys(values))
					}
				}
			}
		case *metricsql.AggrFuncExpr:
			groupBy = append(groupBy, x.Modifier.Args...)
		case *metricsql.BinaryOpExpr:
			groupBy = append(groupBy, x.GroupModifier.Args...)
		}
	})
	for _, l := range groupBy {
		if slices.Contains(targetLabels, l) {
			continue
		}
		found := false
		for _, m := range metrics {
			if _, ok := ex[m][l]; ok {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: groups or matches by %q, which none of %v has", where, l, metrics)
		}
	}
	return metrics
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The Grafana dashboard: well formed, and every query reads metrics and
// labels a live node exports.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("grafana", "stratacache.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []panel `json:"panels"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	ex := liveMetrics(t)
	vars := map[string]bool{}
	labelValues := regexp.MustCompile(`^label_values\((?:(.+),\s*)?(\w+)\)$`)
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(metric, label)", v.Name, q.Query)
			continue
		}
		for _, name := range checkQuery(t, ex, "variable "+v.Name, m[1]) {
			if _, ok := ex[name][m[2]]; !ok && !slices.Contains(targetLabels, m[2]) {
				t.Errorf("variable %s: %s has no label %s", v.Name, name, m[2])
			}
		}
	}
	for _, want := range []string{"datasource", "job", "instance"} {
		if !vars[want] {
			t.Errorf("no $%s variable", want)
		}
	}
	ids := map[int]bool{}
	queries := 0
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: duplicate id", where)
			}
			ids[p.ID] = true
			if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v outside the 24 columns", where, g)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource %+v, want the $datasource variable", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, tg := range p.Targets {
				queries++
				checkQuery(t, ex, where, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	if queries < 20 {
		t.Errorf("only %d queries", queries)
	}
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// The alert rules: the Prometheus rule-file shape, the alerts the issue
// names (node down, tier full, write-back at the bound, fsync failures), and
// every expression reads metrics and labels a live node exports, on the job
// the scrape configuration names.
func TestPrometheusRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatal(err)
	}
	job := scrapeJob(t)
	ex := liveMetrics(t)
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("%s: a rule needs alert and expr", where)
				continue
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", where, r.For, err)
				}
			}
			if sev := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, sev) {
				t.Errorf("%s: severity %q", where, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a summary and a description", where)
			}
			if !strings.Contains(r.Expr, `job="`+job+`"`) {
				t.Errorf("%s: does not select job=%q (the scrape job)", where, job)
			}
			checkQuery(t, ex, where, r.Expr)
		}
	}
	for _, want := range []string{"StrataCacheNodeDown", "StrataCacheTierFull", "StrataCacheWriteBackAtBound", "StrataCacheTierFailed"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no %s alert", want)
		}
	}
}

// scrapeJob checks the scrape configuration and the PodMonitor against the
// StatefulSet (port, Secret) and returns the job name they give.
func scrapeJob(t *testing.T) string {
	t.Helper()
	var sc struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			Authorization struct {
				Type            string `yaml:"type"`
				CredentialsFile string `yaml:"credentials_file"`
			} `yaml:"authorization"`
			KubernetesSDConfigs []map[string]any `yaml:"kubernetes_sd_configs"`
			RelabelConfigs      []struct {
				SourceLabels []string `yaml:"source_labels"`
				Regex        string   `yaml:"regex"`
				Action       string   `yaml:"action"`
				TargetLabel  string   `yaml:"target_label"`
			} `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	raw, err := os.ReadFile(filepath.Join("prometheus", "scrape-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		t.Fatal(err)
	}
	if len(sc.ScrapeConfigs) != 1 {
		t.Fatalf("%d scrape configs", len(sc.ScrapeConfigs))
	}
	j := sc.ScrapeConfigs[0]
	m := loadManifests(t)
	sts := m.statefulSets[filepath.Join(k8sDir, "statefulset.yaml")]
	c := sts.Spec.Template.Spec.Containers[0]
	var secret, key string
	for _, e := range c.Env {
		if e.Name == "STRATACACHE_AUTH_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secret, key = e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
		}
	}
	if j.MetricsPath != "/metrics" || j.Authorization.Type != "Bearer" || !strings.HasSuffix(j.Authorization.CredentialsFile, "/"+secret+"/"+key) {
		t.Errorf("scrape job: path %q, authorization %+v: want /metrics with the Secret %s/%s as bearer token", j.MetricsPath, j.Authorization, secret, key)
	}
	keptPort := false
	for _, r := range j.RelabelConfigs {
		if slices.Contains(r.SourceLabels, "__meta_kubernetes_pod_container_port_name") && r.Action == "keep" {
			keptPort = slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == r.Regex && p.ContainerPort == 9380 })
		}
	}
	if !keptPort {
		t.Error("the scrape job must keep the pods' admin port, by its name in the StatefulSet")
	}
	var pm struct {
		Spec struct {
			PodMetricsEndpoints []struct {
				Port          string `yaml:"port"`
				Authorization struct {
					Credentials struct{ Name, Key string } `yaml:"credentials"`
				} `yaml:"authorization"`
				Relabelings []struct {
					TargetLabel string `yaml:"targetLabel"`
					Replacement string `yaml:"replacement"`
				} `yaml:"relabelings"`
			} `yaml:"podMetricsEndpoints"`
		} `yaml:"spec"`
	}
	raw, err = os.ReadFile(filepath.Join("prometheus", "podmonitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &pm); err != nil {
		t.Fatal(err)
	}
	for _, ep := range pm.Spec.PodMetricsEndpoints {
		if ep.Port != "admin" || ep.Authorization.Credentials.Name != secret || ep.Authorization.Credentials.Key != key {
			t.Errorf("PodMonitor endpoint %+v: want the admin port and the Secret %s/%s", ep, secret, key)
		}
		jobSet := slices.ContainsFunc(ep.Relabelings, func(r struct {
			TargetLabel string `yaml:"targetLabel"`
			Replacement string `yaml:"replacement"`
		}) bool {
			return r.TargetLabel == "job" && r.Replacement == j.JobName
		})
		if !jobSet {
			t.Errorf("the PodMonitor must set job=%q like the scrape config", j.JobName)
		}
	}
	return j.JobName
}

// Package deploy holds the files a cluster operator runs iotrace with
// (docs/deployment.md); its test checks them for syntax and for the
// settings the note says they have.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/iotrace/iotrace/internal/testutils"
)

// exporterFamilies are the metric families of iotrace's exporter
// (docs/metrics.md, "Prometheus"); the dashboard may use no other.
var exporterFamilies = []string{
	"iotrace_calls_total", "iotrace_errors_total", "iotrace_timeouts_total", "iotrace_ready_total",
	"iotrace_fds_watched_total", "iotrace_fds_watched_unknown_calls_total", "iotrace_fd_checks_total",
	"iotrace_copied_bytes_total", "iotrace_wakeups_total", "iotrace_sleeps_total",
	"iotrace_blocked_seconds_total", "iotrace_call_duration_seconds_bucket",
	"iotrace_call_duration_seconds_sum", "iotrace_call_duration_seconds_count",
	"iotrace_epoll_maxevents_hits_total", "iotrace_epoll_ready_list_items_total",
	"iotrace_epoll_ready_list_length_max", "iotrace_epoll_ready_list_truncated_total",
	"iotrace_epoll_instances", "iotrace_epoll_registered_fds", "iotrace_epoll_ctl_ops_total",
	"iotrace_ep_poll_callbacks_total", "iotrace_info", "iotrace_lost_total", "iotrace_figure_unavailable",
	"iotrace_bpf_run_seconds_total", "iotrace_bpf_runs_total", "iotrace_processes", "iotrace_series",
	"iotrace_series_limit", "iotrace_series_dropped_total",
}

// exporterLabels are the label names of the exporter's series
// (docs/metrics.md, "Families"; cgroup, pid and tid only with
// --metrics-labels or --cgroup) and the scrape's own target labels.
var exporterLabels = []string{
	"comm", "cgroup", "pid", "tid", "syscall", "model", "errno", "direction", "at", "le", "op",
	"version", "probe_mode", "kernel", "reason", "figure", "state", "instance", "job",
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	d := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc map[string]any
		if err := d.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, doc)
	}
	return docs
}

// dig follows keys (string) and indexes (int) through decoded YAML or JSON.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

// TestDaemonSet: the manifest parses and has what docs/deployment.md says
// it needs: the host's pid namespace, the BPF capabilities and no more
// than the note lists, the read-only host mounts, and a headless run of
// the exporter.
func TestDaemonSet(t *testing.T) {
	var ds, svc map[string]any
	for _, doc := range yamlDocs(t, "kubernetes/daemonset.yaml") {
		switch doc["kind"] {
		case "DaemonSet":
			ds = doc
		case "Service":
			svc = doc
		}
	}
	if ds == nil || svc == nil {
		t.Fatal("want a DaemonSet and a Service")
	}
	spec := dig(ds, "spec", "template", "spec")
	if dig(spec, "hostPID") != true {
		t.Error("hostPID is not true")
	}
	c := dig(spec, "containers", 0)
	caps := strs(dig(c, "securityContext", "capabilities", "add"))
	for _, want := range []string{"BPF", "PERFMON", "SYS_RESOURCE"} {
		if !slices.Contains(caps, want) {
			t.Errorf("capability %s missing: %v", want, caps)
		}
	}
	if slices.Contains(caps, "SYS_ADMIN") || dig(c, "securityContext", "privileged") != false {
		t.Errorf("more privilege than the note gives: %v", dig(c, "securityContext"))
	}
	mounts := map[string]bool{}
	for _, m := range dig(c, "volumeMounts").([]any) {
		mounts[dig(m, "mountPath").(string)] = dig(m, "readOnly") == true
	}
	for _, p := range []string{"/sys/kernel/btf", "/host/sys/fs/cgroup"} {
		if ro, ok := mounts[p]; !ok || !ro {
			t.Errorf("%s not mounted read-only: %v", p, mounts)
		}
	}
	args := strings.Join(strs(dig(c, "args")), " ")
	if !strings.Contains(args, "--listen :9464") {
		t.Errorf("args %q: want --listen :9464", args)
	}
	if dig(svc, "spec", "clusterIP") != "None" {
		t.Error("the Service is not headless (scrape.yml's dns_sd_configs needs one record per pod)")
	}
}

// TestScrapeConfig: the scrape configurations parse, and promtool accepts
// them. Debian's promtool has no Kubernetes discovery, so
// scrape-kubernetes.yml is checked only by a promtool that has it.
func TestScrapeConfig(t *testing.T) {
	for _, f := range []string{"prometheus/scrape.yml", "prometheus/scrape-kubernetes.yml"} {
		docs := yamlDocs(t, f)
		if len(docs) != 1 || dig(docs[0], "scrape_configs", 0, "job_name") != "iotrace" {
			t.Errorf("%s: want one document whose first job is iotrace", f)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testutils.Unavailable(t, "promtool not installed (Debian: apt-get install prometheus): scrape.yml not checked by it")
	}
	out, err := exec.Command(promtool, "check", "config", "prometheus/scrape.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config prometheus/scrape.yml: %v\n%s", err, out)
	}
	out, err = exec.Command(promtool, "check", "config", "prometheus/scrape-kubernetes.yml").CombinedOutput()
	switch {
	case err != nil && strings.Contains(string(out), "field kubernetes_sd_configs not found"):
		t.Logf("this promtool is built without Kubernetes discovery (Debian's is): scrape-kubernetes.yml parsed as YAML only")
	case err != nil:
		t.Fatalf("promtool check config prometheus/scrape-kubernetes.yml: %v\n%s", err, out)
	}
}

var (
	metricName = regexp.MustCompile(`\biotrace_[a-z_]+`)
	// labelUse finds label names in matchers (name="..."), by (...) and
	// label_values(..., name).
	labelUse = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!~|!=|=)\s*"|by\s*\(([a-z_, ]+)\)|label_values\(.*,\s*([a-z_]+)\)`)
)

// labelsUsed adds the label names expr uses to used.
func labelsUsed(expr string, used map[string]bool) {
	for _, m := range labelUse.FindAllStringSubmatch(expr, -1) {
		for _, g := range m[1:] {
			for _, l := range strings.Split(g, ",") {
				if l = strings.TrimSpace(l); l != "" {
					used[l] = true
				}
			}
		}
	}
}

// TestGrafanaDashboard: the dashboard is JSON, has the model comparison's
// panels, and queries only the exporter's families and labels.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/iotrace.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/iotrace.json: %v", err)
	}
	used := map[string]bool{}
	usedLabels := map[string]bool{}
	titles := map[string]bool{}
	for _, p := range dash["panels"].([]any) {
		titles[dig(p, "title").(string)] = true
		targets, _ := dig(p, "targets").([]any)
		for _, tg := range targets {
			for _, m := range metricName.FindAllString(dig(tg, "expr").(string), -1) {
				used[m] = true
			}
			labelsUsed(dig(tg, "expr").(string), usedLabels)
		}
	}
	for _, v := range dig(dash, "templating", "list").([]any) {
		if q, ok := dig(v, "definition").(string); ok {
			for _, m := range metricName.FindAllString(q, -1) {
				used[m] = true
			}
			labelsUsed(q, usedLabels)
		}
	}
	if !usedLabels["cgroup"] || !usedLabels["comm"] {
		t.Errorf("labels used %v: want the comm and cgroup filters", usedLabels)
	}
	for l := range usedLabels {
		if !slices.Contains(exporterLabels, l) {
			t.Errorf("the dashboard uses the label %s, which the exporter's series do not have", l)
		}
	}
	for m := range used {
		if !slices.Contains(exporterFamilies, m) {
			t.Errorf("the dashboard queries %s, which the exporter does not serve", m)
		}
	}
	for _, want := range []string{"Calls/s per model", "fd checks per call", "Copied bytes/s", "Wakeups per call", "p99 call duration", "Losses/s"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

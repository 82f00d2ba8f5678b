package exporter

import (
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry returns a registry holding e and the Go and process collectors
// (iotrace's own CPU time and memory: process_cpu_seconds_total,
// process_resident_memory_bytes, go_*).
func Registry(e *Exporter) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves /metrics (Prometheus text or OpenMetrics, as the scraper
// asks), /healthz and an index page at /.
func Handler(e *Exporter) http.Handler {
	reg := Registry(e)
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: reg})
	mux.Handle("/metrics", promhttp.InstrumentMetricHandler(reg, metrics))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, reason := e.Health()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, reason)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html>
<html><head><title>iotrace</title></head><body>
<h1>iotrace</h1>
<p>select, poll and epoll figures of the traced processes, exactly, from eBPF (%s).</p>
<ul>
<li><a href="metrics">/metrics</a>: Prometheus text and OpenMetrics (docs/metrics.md, "Prometheus metrics")</li>
<li><a href="healthz">/healthz</a>: 200 while the probes deliver and no events are lost, else 503 with the reason</li>
</ul>
</body></html>
`, html.EscapeString(e.o.Version))
	})
	return mux
}

// Server is the running endpoint.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan error
}

// Listen binds addr (host:port; ":9464" binds every address) and serves
// Handler(e) until Close.
func Listen(addr string, e *Exporter) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", addr, unwrapOp(err))
	}
	s := &Server{ln: ln, done: make(chan error, 1),
		srv: &http.Server{Handler: Handler(e), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// unwrapOp drops net.OpError's "listen tcp ADDR:" prefix, which the
// message already says.
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// Addr is the address the endpoint listens on (the port chosen for ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the endpoint.
func (s *Server) Close() error {
	err := s.srv.Close()
	if serr := <-s.done; err == nil {
		err = serr
	}
	return err
}

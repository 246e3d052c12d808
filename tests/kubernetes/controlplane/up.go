package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// apiserverReadyTimeout bounds a (re)start of kube-apiserver until /readyz answers 200.
	// It takes ~10 s on an idle 2-core machine (post-start hooks: RBAC bootstrap, CRDs,
	// aggregator, OpenAPI); the margin is for a machine that is also compiling and testing.
	apiserverReadyTimeout = 180 * time.Second
	// childStopTimeout bounds a graceful stop (SIGTERM) before SIGKILL. kube-apiserver closes
	// watches at once and waits for in-flight requests, which in tests are short.
	childStopTimeout = 30 * time.Second
	// serviceClusterIPRange is kube-apiserver's default, named so the serving certificate's
	// 10.0.0.1 (the kubernetes Service) stays consistent with it.
	serviceClusterIPRange = "10.0.0.0/24"
)

// State is what `up` writes to DATA_DIR/controlplane.json once the control plane is ready;
// tests wait for that file and read it. Field names are a contract with the tests.
type State struct {
	APIServerURL    string `json:"apiServerURL"`    // https://127.0.0.1:PORT
	Kubeconfig      string `json:"kubeconfig"`      // admin (system:masters), client certificate
	CAFile          string `json:"caFile"`          // PEM; verifies APIServerURL
	AdminTokenFile  string `json:"adminTokenFile"`  // bearer token of the same admin user
	EtcdURL         string `json:"etcdURL"`         // http://127.0.0.1:PORT (plain, loopback)
	ControlURL      string `json:"controlURL"`      // http://127.0.0.1:PORT, see serveControl
	SchedulerConfig string `json:"schedulerConfig"` // the config kube-scheduler runs with; "" if none
	PID             int    `json:"pid"`             // the supervisor's
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runUp(args []string) int {
	fs := flag.NewFlagSet("gpufit-controlplane up", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "directory for certificates, etcd data, logs, kubeconfig and controlplane.json (required)")
	schedulerConfig := fs.String("scheduler-config", "", "KubeSchedulerConfiguration file for kube-scheduler (default: one default-scheduler profile, no extender)")
	extenderURLPrefix := fs.String("extender-url-prefix", "", "replace every extenders[].urlPrefix of the scheduler config with this URL")
	noScheduler := fs.Bool("no-scheduler", false, "run etcd and kube-apiserver only")
	controlAddress := fs.String("control-address", "127.0.0.1:0", "loopback address of the control endpoint (restart, compaction)")
	var apiserverArgs, schedulerArgs stringList
	fs.Var(&apiserverArgs, "apiserver-arg", "extra kube-apiserver flag, e.g. --apiserver-arg=--watch-cache=false (repeatable; later flags win)")
	fs.Var(&schedulerArgs, "scheduler-arg", "extra kube-scheduler flag (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "gpufit-controlplane up: --data-dir: required")
		return 2
	}
	if *noScheduler && (*schedulerConfig != "" || *extenderURLPrefix != "") {
		fmt.Fprintln(os.Stderr, "gpufit-controlplane up: --no-scheduler: conflicts with --scheduler-config/--extender-url-prefix")
		return 2
	}
	dir, err := filepath.Abs(*dataDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gpufit-controlplane up: --data-dir: %v\n", err)
		return 2
	}

	// Until start returns, SIGTERM/SIGINT keep their default action (exit at once): the
	// children die with this process (Pdeathsig) and etcd is in it, so nothing is left behind.
	s := &supervisor{dataDir: dir, fatal: make(chan error, 4)}
	defer s.shutdown()
	if err := s.start(*schedulerConfig, *extenderURLPrefix, *noScheduler, *controlAddress,
		apiserverArgs, schedulerArgs); err != nil {
		fmt.Fprintf(os.Stderr, "gpufit-controlplane up: %v\n", err)
		return 1
	}
	fmt.Printf("gpufit-controlplane: ready: %s\n", filepath.Join(dir, "controlplane.json"))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-signals:
		fmt.Printf("gpufit-controlplane: %v: stopping\n", sig)
		return 0
	case err := <-s.fatal:
		fmt.Fprintf(os.Stderr, "gpufit-controlplane up: %v\n", err)
		return 1
	}
}

// supervisor owns etcd (in-process), the kube-apiserver and kube-scheduler child processes
// and the control endpoint. The control handlers may run concurrently; mu serialises every
// change to the API server process (GET /status waits while a restart is in progress).
type supervisor struct {
	dataDir string
	fatal   chan error // an unexpected child exit; read by runUp

	etcd      *embeddedEtcd
	pki       pki
	apiURL    string
	apiClient *http.Client // admin client certificate, for /readyz
	control   *http.Server

	mu            sync.Mutex
	apiserverArgs []string
	apiserver     *child // nil while stopped
	scheduler     *child
}

func (s *supervisor) start(schedulerConfig, extenderURLPrefix string, noScheduler bool,
	controlAddress string, apiserverArgs, schedulerArgs []string) error {
	var err error
	if s.pki, err = generatePKI(s.dataDir); err != nil {
		return err
	}
	if s.apiClient, err = adminHTTPClient(s.pki); err != nil {
		return err
	}
	if s.etcd, err = startEtcd(s.dataDir); err != nil {
		return err
	}

	// The API server keeps this port across restarts so that clients reconnect to the same
	// URL. The port is found by binding port 0 and releasing it: kube-apiserver binds it
	// itself, and another process could in principle take it in between; the kernel hands
	// out ephemeral ports in rotation, which makes that unlikely on a test machine.
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	s.apiURL = "https://127.0.0.1:" + strconv.Itoa(port)
	kubeconfig := filepath.Join(s.dataDir, "admin.kubeconfig")
	if err := writeKubeconfig(kubeconfig, s.apiURL, s.pki); err != nil {
		return err
	}
	s.apiserverArgs = append([]string{
		"--etcd-servers=" + s.etcd.clientURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--advertise-address=127.0.0.1",
		// The kubernetes Service's Endpoints would name 127.0.0.1, which Endpoints reject.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + s.pki.Dir,
		"--tls-cert-file=" + s.pki.ServingCert,
		"--tls-private-key-file=" + s.pki.ServingKey,
		"--client-ca-file=" + s.pki.CACert,
		"--token-auth-file=" + s.pki.TokenAuthFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + s.pki.ServiceAccountPub,
		"--service-account-signing-key-file=" + s.pki.ServiceAccountKey,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--authorization-mode=RBAC",
		// ServiceAccount admission waits for each namespace's "default" ServiceAccount, which
		// only kube-controller-manager creates. TaintNodesByCondition taints every new Node
		// not-ready, a taint only the node lifecycle controller (also in kube-controller-manager)
		// removes. Without that controller both would keep every Pod from scheduling.
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
		// On SIGTERM, answer new requests with 429 + Retry-After (client-go retries them) until
		// those in flight are done, then close connections within 2 s. Without it the HTTP
		// server waits up to --request-timeout (60 s) for open watches to go idle, which they
		// never do, so every graceful restart would take a minute.
		"--shutdown-send-retry-after=true",
		"--profiling=false",
	}, apiserverArgs...)
	if err := s.startAPIServer(); err != nil {
		return err
	}

	state := State{
		APIServerURL:   s.apiURL,
		Kubeconfig:     kubeconfig,
		CAFile:         s.pki.CACert,
		AdminTokenFile: s.pki.AdminTokenFile,
		EtcdURL:        s.etcd.clientURL,
		PID:            os.Getpid(),
	}
	if !noScheduler {
		state.SchedulerConfig = filepath.Join(s.dataDir, "kube-scheduler-config.yaml")
		if err := writeSchedulerConfig(schedulerConfig, state.SchedulerConfig, kubeconfig,
			extenderURLPrefix); err != nil {
			return err
		}
		scheduler := &child{
			name: "kube-scheduler",
			args: append([]string{
				"--config=" + state.SchedulerConfig,
				// No HTTPS endpoint: nothing scrapes it, and a fixed port (10259) would collide
				// between control planes running in parallel.
				"--secure-port=0",
			}, schedulerArgs...),
			logPath: filepath.Join(s.dataDir, "kube-scheduler.log"),
			fatal:   s.fatal,
		}
		if err := scheduler.start(); err != nil {
			return err
		}
		s.scheduler = scheduler
	}

	if state.ControlURL, err = s.serveControl(controlAddress); err != nil {
		return err
	}
	data, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.dataDir, "controlplane.json"), append(data, '\n'), 0o644)
}

// shutdown stops everything that start started, in reverse order.
func (s *supervisor) shutdown() {
	if s.control != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.control.Shutdown(ctx)
		cancel()
	}
	if s.scheduler != nil {
		s.scheduler.stop(syscall.SIGTERM)
	}
	s.mu.Lock()
	if s.apiserver != nil {
		s.apiserver.stop(syscall.SIGTERM)
		s.apiserver = nil
	}
	s.mu.Unlock()
	if s.etcd != nil {
		s.etcd.Close()
	}
}

// startAPIServer starts kube-apiserver and waits until /readyz is 200. Callers hold mu, or
// run before the control endpoint exists.
func (s *supervisor) startAPIServer() error {
	c := &child{
		name:    "kube-apiserver",
		args:    s.apiserverArgs,
		logPath: filepath.Join(s.dataDir, "kube-apiserver.log"),
		fatal:   s.fatal,
	}
	if err := c.start(); err != nil {
		return err
	}
	s.apiserver = c
	deadline := time.Now().Add(apiserverReadyTimeout)
	for {
		resp, err := s.apiClient.Get(s.apiURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			s.apiserver = nil
			return fmt.Errorf("kube-apiserver exited before it was ready: %v (log: %s)", c.err, c.logPath)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver: /readyz not 200 after %s (log: %s)", apiserverReadyTimeout, c.logPath)
		}
	}
}

// serveControl starts the control endpoint; it returns its base URL. No authentication: it
// listens on loopback only and exists for tests on the same machine.
//
//	GET  /status                     {"apiserverRunning": bool, "apiserverPID": int}
//	POST /apiserver/stop[?signal=KILL]   SIGTERM (graceful, default) or SIGKILL (a crash)
//	POST /apiserver/start                returns when /readyz is 200
//	POST /apiserver/restart[?signal=KILL] stop, then start
//	POST /etcd/compact                   {"revision": N}: history before N is gone, so a
//	                                     watch or list from an older resourceVersion gets 410
func (s *supervisor) serveControl(address string) (string, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return "", fmt.Errorf("--control-address %q: must be a loopback host:port", address)
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return "", fmt.Errorf("--control-address: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		status := map[string]interface{}{"apiserverRunning": s.apiserver != nil, "apiserverPID": 0}
		if s.apiserver != nil {
			status["apiserverPID"] = s.apiserver.pid()
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, status)
	})
	mux.HandleFunc("POST /apiserver/stop", func(w http.ResponseWriter, r *http.Request) {
		sig, err := stopSignal(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.apiserver != nil {
			s.apiserver.stop(sig)
			s.apiserver = nil
		}
		writeJSON(w, http.StatusOK, map[string]bool{"apiserverRunning": false})
	})
	start := func(w http.ResponseWriter) {
		if s.apiserver == nil {
			if err := s.startAPIServer(); err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]interface{}{"apiserverRunning": true, "apiserverPID": s.apiserver.pid()})
	}
	mux.HandleFunc("POST /apiserver/start", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		start(w)
	})
	mux.HandleFunc("POST /apiserver/restart", func(w http.ResponseWriter, r *http.Request) {
		sig, err := stopSignal(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.apiserver != nil {
			s.apiserver.stop(sig)
			s.apiserver = nil
		}
		start(w)
	})
	mux.HandleFunc("POST /etcd/compact", func(w http.ResponseWriter, r *http.Request) {
		rev, err := s.etcd.Compact(r.Context())
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]int64{"revision": rev})
	})
	s.control = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.control.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fatal <- fmt.Errorf("control endpoint: %w", err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

func stopSignal(r *http.Request) (syscall.Signal, error) {
	switch r.URL.Query().Get("signal") {
	case "", "TERM":
		return syscall.SIGTERM, nil
	case "KILL":
		return syscall.SIGKILL, nil
	default:
		return 0, fmt.Errorf("signal: must be TERM or KILL")
	}
}

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// adminHTTPClient trusts the control plane's CA and presents the admin client certificate.
func adminHTTPClient(p pki) (*http.Client, error) {
	caPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s: no certificate", p.CACert)
	}
	cert, err := tls.LoadX509KeyPair(p.AdminCert, p.AdminKey)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		}},
	}, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
)

// etcdStartTimeout bounds the wait for a one-member cluster to elect itself leader; on an idle
// machine that takes well under a second.
const etcdStartTimeout = 60 * time.Second

// embeddedEtcd is a one-member etcd cluster inside the supervisor process, on loopback only.
// It lives as long as the supervisor: the API server restarts against the same data.
// Not safe for concurrent Close; Compact may be called from any goroutine.
type embeddedEtcd struct {
	etcd      *embed.Etcd
	clientURL string // http://127.0.0.1:PORT, the port the kernel chose
}

// startEtcd starts etcd with its data in dataDir/etcd and its log in dataDir/etcd.log.
func startEtcd(dataDir string) (*embeddedEtcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "gpufit"
	cfg.Dir = filepath.Join(dataDir, "etcd")
	cfg.LogOutputs = []string{filepath.Join(dataDir, "etcd.log")}
	cfg.LogLevel = "warn"
	// Port 0: the kernel picks free ports, so parallel control planes never collide. A
	// one-member cluster never dials its own peer URL; it only has to be well-formed and the
	// same in InitialCluster and AdvertisePeerUrls.
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// Test data is disposable: skipping fsync keeps etcd fast on a busy shared disk.
	cfg.UnsafeNoFsync = true
	// No automatic compaction: tests compact on demand (POST /etcd/compact) to see 410 Gone.
	cfg.AutoCompactionRetention = "0"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: %w", err)
	case <-time.After(etcdStartTimeout):
		e.Close()
		return nil, fmt.Errorf("etcd: not ready after %s (log: %s)", etcdStartTimeout, cfg.LogOutputs[0])
	}
	return &embeddedEtcd{
		etcd:      e,
		clientURL: "http://" + e.Clients[0].Addr().String(),
	}, nil
}

// Compact compacts the key-value history up to the current revision and waits until the
// compaction is applied physically, so that a watch or list from any older resourceVersion
// fails with "required revision has been compacted" (HTTP 410 Gone from the API server).
// Returns the revision compacted at. Compacting twice with no write in between is not an
// error: the history is already gone.
func (e *embeddedEtcd) Compact(ctx context.Context) (int64, error) {
	rev := e.etcd.Server.KV().Rev()
	_, err := e.etcd.Server.Compact(ctx, &pb.CompactionRequest{Revision: rev, Physical: true})
	if err != nil && !errors.Is(err, mvcc.ErrCompacted) {
		return 0, fmt.Errorf("etcd compact at revision %d: %w", rev, err)
	}
	return rev, nil
}

func (e *embeddedEtcd) Close() { e.etcd.Close() }

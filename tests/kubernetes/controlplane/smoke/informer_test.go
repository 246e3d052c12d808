package smoke

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"gpufit/tests/kubernetes/controlplane/cptest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// informerTimeout bounds the wait for an informer to catch up after a restart; client-go backs
// off up to ~30 s between failed watch attempts, so allow several attempts.
const informerTimeout = 120 * time.Second

// recordingNodeLW lists and watches Nodes like client-go's default ListWatch, and records
// what the test asserts on: how many LISTs the reflector made and every 410 (Expired/Gone)
// its watches got. Safe for concurrent use.
//
// It opts out of two things so that what happens is determined by the test: WatchList (the
// reflector then does the classic LIST + WATCH that gpufitd's node cache also does) and watch
// bookmarks (a bookmark would move the informer's resourceVersion past the compaction).
type recordingNodeLW struct {
	client kubernetes.Interface

	mu      sync.Mutex
	lists   int
	expired []string // "rv=<watched from>: <message>"
}

func (lw *recordingNodeLW) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	lw.mu.Lock()
	lw.lists++
	lw.mu.Unlock()
	return lw.client.CoreV1().Nodes().List(ctx, opts)
}

func (lw *recordingNodeLW) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.AllowWatchBookmarks = false
	from := opts.ResourceVersion
	w, err := lw.client.CoreV1().Nodes().Watch(ctx, opts)
	if err != nil {
		lw.recordIfExpired(from, err)
		return nil, err
	}
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		if e.Type == watch.Error {
			lw.recordIfExpired(from, apierrors.FromObject(e.Object))
		}
		return e, true
	}), nil
}

func (lw *recordingNodeLW) recordIfExpired(from string, err error) {
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		lw.mu.Lock()
		lw.expired = append(lw.expired, fmt.Sprintf("rv=%s: %v", from, err))
		lw.mu.Unlock()
	}
}

func (lw *recordingNodeLW) List(opts metav1.ListOptions) (runtime.Object, error) {
	return lw.ListWithContext(context.Background(), opts)
}

func (lw *recordingNodeLW) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return lw.WatchWithContext(context.Background(), opts)
}

// IsWatchListSemanticsUnSupported opts out of WatchList (client-go's watchlist package).
func (lw *recordingNodeLW) IsWatchListSemanticsUnSupported() bool { return true }

func (lw *recordingNodeLW) counts() (lists int, expired []string) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.lists, append([]string(nil), lw.expired...)
}

// A client-go informer on Nodes keeps working across a kube-apiserver crash (SIGKILL,
// restart: it resumes its watch) and across an etcd compaction followed by a restart: its
// next watch, from a resourceVersion that no longer exists, gets 410 Expired, it relists,
// and it sees what changed. The API server runs without its watch cache so that watches go
// to etcd and the compaction, not a fresh watch cache, is what expires the resourceVersion.
func TestInformerSurvivesRestartAndCompaction(t *testing.T) {
	cp := cptest.Start(t, cptest.Options{NoScheduler: true, APIServerArgs: []string{"--watch-cache=false"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	lw := &recordingNodeLW{client: cp.Client}
	informer := cache.NewSharedIndexInformer(lw, &corev1.Node{}, 0, cache.Indexers{})
	go informer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("informer did not sync")
	}
	seen := func(name string) {
		t.Helper()
		cptest.Eventually(t, informerTimeout, "informer sees node "+name, func(context.Context) (bool, error) {
			_, exists, err := informer.GetStore().GetByKey(name)
			return exists, err
		})
	}

	cptest.CreateGPUNode(t, cp.Client, "before-restart", cptest.L4Labels(), 1)
	seen("before-restart")

	// A crash: the watch breaks without a goodbye; client-go retries and resumes.
	cp.RestartAPIServer("KILL")
	cptest.CreateGPUNode(t, cp.Client, "after-crash", cptest.L4Labels(), 1)
	seen("after-crash")

	// Move etcd's revision past the informer's resourceVersion without touching Nodes, then
	// compact: the informer's resourceVersion is now history that etcd no longer has.
	for i := 0; i < 3; i++ {
		_, err := cp.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "bump-" + strconv.Itoa(i)},
		}, metav1.CreateOptions{})
		cptest.Must(t, err, "create configmap bump-%d", i)
	}
	compacted := cp.CompactEtcd()
	informerRV, err := strconv.ParseInt(informer.LastSyncResourceVersion(), 10, 64)
	cptest.Must(t, err, "informer resourceVersion %q", informer.LastSyncResourceVersion())
	if informerRV >= compacted {
		t.Fatalf("informer resourceVersion %d is not older than the compaction at %d; the test cannot expire it", informerRV, compacted)
	}
	listsBefore, expiredBefore := lw.counts()

	// A graceful restart closes the watch; the next one starts from informerRV < compacted.
	cp.RestartAPIServer("TERM")
	cptest.CreateGPUNode(t, cp.Client, "after-compaction", cptest.L4Labels(), 1)
	seen("after-compaction")
	cptest.Eventually(t, informerTimeout, "a watch gets 410 Expired and the informer relists",
		func(context.Context) (bool, error) {
			lists, expired := lw.counts()
			return len(expired) > len(expiredBefore) && lists > listsBefore, nil
		})
	_, expired := lw.counts()
	t.Logf("after compaction at revision %d: %v", compacted, expired[len(expiredBefore):])

	for _, name := range []string{"before-restart", "after-crash", "after-compaction"} {
		if _, exists, _ := informer.GetStore().GetByKey(name); !exists {
			t.Errorf("informer store lost node %s", name)
		}
	}
	if n := len(informer.GetStore().List()); n != 3 {
		t.Errorf("informer store has %d nodes, want 3", n)
	}
}

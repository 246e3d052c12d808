'use strict';
// The Kubernetes API server going away and coming back, with the real gpufitd: its node cache
// (list + watch, src/k8s/node_cache.h) keeps the last nodes it knew while the API is gone,
// readiness stays 200, the extender keeps answering NodeNames calls from the cache, and each
// failed re-watch is counted (gpufit_node_cache_watch_restarts_total) and logged. When the API
// returns, the cache catches up with what changed meanwhile: by resuming the watch from the
// last resourceVersion when the API still has those events, by relisting when it answers
// 410 Gone (its history was compacted, as etcd does during a long outage).
//
// The API server here is a small fake that keeps real state: nodes with resourceVersions, the
// event history, watches that replay from a resourceVersion and then stream live events, and
// the in-band ERROR 410 a real API server sends for a resourceVersion older than its history.

const {test, after} = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const h = require('./lib/harness');
const {RestartableServer} = require('./lib/restartable_server');

const WAIT_MS = 60000;  // the watcher backs off up to 30 s between attempts

const dirs = [];
after(() => dirs.forEach(h.removeDir));

class FakeKubeApi extends RestartableServer {
  constructor() {
    super(() => http.createServer((req, res) => this.handle(req, res)));
    this.rv = 1000;
    this.nodes = new Map();
    this.history = [];          // events after oldestRv, in order
    this.oldestRv = this.rv;    // a watch from before this gets 410
    this.watches = new Set();   // open watch responses
    this.lists = 0;
  }

  setNode(name) {
    const type = this.nodes.has(name) ? 'MODIFIED' : 'ADDED';
    const node = h.l4NodeObject(name, ++this.rv);
    this.nodes.set(name, node);
    this.emit({type, object: node});
  }

  deleteNode(name) {
    const node = {...this.nodes.get(name)};
    node.metadata = {...node.metadata, resourceVersion: String(++this.rv)};
    this.nodes.delete(name);
    this.emit({type: 'DELETED', object: node});
  }

  // Forgets the event history, as a compaction during a long outage does.
  compact() {
    this.history = [];
    this.oldestRv = this.rv;
  }

  emit(event) {
    this.history.push(event);
    for (const res of this.watches) res.write(`${JSON.stringify(event)}\n`);
  }

  handle(req, res) {
    const url = new URL(req.url, 'http://x');
    if (url.pathname !== '/api/v1/nodes') {
      res.writeHead(404).end();
      return;
    }
    if (!url.searchParams.has('watch')) {
      ++this.lists;
      const body = JSON.stringify({kind: 'NodeList', apiVersion: 'v1',
        metadata: {resourceVersion: String(this.rv)}, items: [...this.nodes.values()]});
      res.writeHead(200, {'Content-Type': 'application/json'}).end(body);
      return;
    }
    const from = Number(url.searchParams.get('resourceVersion'));
    res.writeHead(200, {'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked'});
    if (from < this.oldestRv) {
      res.end(`${JSON.stringify({type: 'ERROR', object: {kind: 'Status', apiVersion: 'v1',
        status: 'Failure', message: `too old resource version: ${from} (${this.oldestRv})`,
        reason: 'Expired', code: 410}})}\n`);
      return;
    }
    for (const event of this.history) {
      if (Number(event.object.metadata.resourceVersion) > from) res.write(`${JSON.stringify(event)}\n`);
    }
    this.watches.add(res);
    res.on('close', () => this.watches.delete(res));
  }

  // Goes away: the listener closes (connection refused) and open watches are cut.
  stop() {
    this.watches.clear();
    return super.stop();
  }
}

// The names gpufitd's node cache knows, as the extender shows them: every name sent except
// those answered "not in gpufit's node cache".
async function cachedNames(daemon, names) {
  const res = await h.httpPostJson(`http://${daemon.httpAddress}/filter`, {
    Pod: {metadata: {name: 'p', namespace: 'serving', annotations: {
      'gpufit.io/model': 'llama-3-8b', 'gpufit.io/precision': 'fp8'}}},
    Nodes: null,
    NodeNames: names,
  });
  assert.equal(res.status, 200, res.body);
  const answer = JSON.parse(res.body);
  assert.equal(answer.Error, '', res.body);
  const failed = answer.FailedNodes || {};
  return names.filter((n) => !/node cache/.test(failed[n] || '')).sort();
}

async function metric(daemon, name) {
  return h.sampleValue(await h.scrape(daemon), name) || 0;
}

async function readyz(daemon) {
  return (await h.httpGet(`http://${daemon.httpAddress}/readyz`)).status;
}

test('Kubernetes API away and back: last nodes kept, ready, backoff counted, then caught up', async () => {
  const api = new FakeKubeApi();
  api.setNode('gpu-a');
  api.setNode('gpu-b');
  await api.start();
  const ALL = ['gpu-a', 'gpu-b', 'gpu-c', 'gpu-d'];
  const daemon = await h.startDaemon({args: ['--kube-api-url', api.url]});
  try {
    await h.waitFor(async () => (await metric(daemon, 'gpufit_node_cache_nodes')) === 2,
        {timeoutMs: WAIT_MS, what: 'the node cache to list 2 nodes'});
    assert.deepEqual(await cachedNames(daemon, ALL), ['gpu-a', 'gpu-b']);

    // 1. The API goes away and its history is compacted meanwhile: a relist on return.
    const restarts0 = await metric(daemon, 'gpufit_node_cache_watch_restarts_total');
    const listed0 = daemon.findLogs((l) => l.msg === 'node cache listed').length;
    const lists0 = api.lists;
    await api.stop();
    await h.waitFor(async () => (await metric(daemon, 'gpufit_node_cache_watch_restarts_total')) >= restarts0 + 3,
        {timeoutMs: WAIT_MS, intervalMs: 200, what: 'the cut watch and two refused re-watches to be counted'});
    const warnings = daemon.findLogs((l) => l.msg === 'node cache' && l.level === 'warn');
    assert.ok(warnings.length >= 2, `failed re-watches are logged: ${JSON.stringify(warnings)}`);
    // While it is away: the last known nodes, ready, serving.
    assert.deepEqual(await cachedNames(daemon, ALL), ['gpu-a', 'gpu-b'], 'last known nodes kept');
    assert.equal(await metric(daemon, 'gpufit_node_cache_nodes'), 2);
    assert.equal(await readyz(daemon), 200, '/readyz while the API is away');
    assert.ok(daemon.running());

    api.deleteNode('gpu-a');
    api.setNode('gpu-c');
    api.compact();
    await api.start(api.port);
    await h.waitFor(async () => JSON.stringify(await cachedNames(daemon, ALL)) === '["gpu-b","gpu-c"]',
        {timeoutMs: WAIT_MS, intervalMs: 200, what: 'the cache to catch up after the API returned'});
    assert.ok(api.lists > lists0, 'caught up by a relist (the watch got 410 Gone)');
    await daemon.waitForLog((l) => l.msg === 'node cache listed' &&
        daemon.findLogs((x) => x.msg === 'node cache listed').length > listed0,
    {timeoutMs: WAIT_MS, what: 'the relist in the log'});

    // 2. Away again, briefly: the API still has the events, so the watch resumes from the last
    // resourceVersion and replays them, without a relist.
    await h.waitFor(() => api.watches.size === 1, {timeoutMs: WAIT_MS, what: 'the watch to reopen'});
    const lists1 = api.lists;
    await api.stop();
    api.setNode('gpu-d');
    api.deleteNode('gpu-b');
    assert.equal(await readyz(daemon), 200);
    await api.start(api.port);
    await h.waitFor(async () => JSON.stringify(await cachedNames(daemon, ALL)) === '["gpu-c","gpu-d"]',
        {timeoutMs: WAIT_MS, intervalMs: 200, what: 'the resumed watch to replay the missed events'});
    assert.equal(api.lists, lists1, 'no relist when the watch could resume');
    assert.equal(await metric(daemon, 'gpufit_node_cache_nodes'), 2);
    assert.equal(await readyz(daemon), 200);
  } finally {
    const status = await daemon.stop();
    await api.stop().catch(() => {});
    assert.deepEqual(status, {code: 0, signal: null}, daemon.tail());
  }
});

test('no Kubernetes API from the start: ready, NodeNames answered "not in the node cache yet"', async () => {
  const port = await h.freePort();  // nothing listens there
  const daemon = await h.startDaemon({args: ['--kube-api-url', `http://127.0.0.1:${port}`]});
  try {
    await daemon.waitForLog((l) => l.msg === 'node cache' && l.level === 'warn',
        {timeoutMs: WAIT_MS, what: 'a failed list in the log'});
    assert.equal(await readyz(daemon), 200);
    assert.deepEqual(await cachedNames(daemon, ['gpu-a']), []);
  } finally {
    const status = await daemon.stop();
    assert.deepEqual(status, {code: 0, signal: null}, daemon.tail());
  }
});

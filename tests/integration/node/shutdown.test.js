'use strict';
// SIGTERM under load: gpufitd drains (readiness 503, health NOT_SERVING), lets in-flight
// calls finish within the grace and exits 0. Every call the client saw succeed carries the
// right decision; every other call failed with UNAVAILABLE or CANCELLED, never a wrong answer
// or another code. Scheduler-extender calls (POST /filter) run alongside: each is answered
// 200 with the right body or, after SIGTERM only, refused at the connection (the HTTP port
// closes once the gRPC calls have drained); never another status or a wrong body.

const {test, after} = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const h = require('./lib/harness');

const {grpc} = h;

const GRACE_SECONDS = 5;
const IN_FLIGHT = 200;        // concurrent Place calls kept outstanding
const SIGNAL_AFTER = 400;     // completions before SIGTERM: the burst is under way
const MAX_CALLS = 20000;      // bound on the whole burst
const ALLOWED_FAILURES = new Set([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]);
const EXTENDER_IN_FLIGHT = 8;  // concurrent POST /filter calls, one connection each
// How a client sees a closed listener or a connection closed before the answer.
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

// A filter call in Nodes mode (full node objects: no node cache needed).
const EXTENDER_ARGS = {
  Pod: {metadata: {name: 'p', namespace: 'serving', annotations: {
    'gpufit.io/model': 'llama-3-8b', 'gpufit.io/precision': 'fp8'}}},
  Nodes: {items: ['gpu-l4-0', 'gpu-l4-1', 'gpu-l4-2'].map((n) => h.l4NodeObject(n))},
  NodeNames: null,
};

const dirs = [];
after(() => dirs.forEach(h.removeDir));

test('SIGTERM mid-burst (gRPC + extender): OK answers are right, the rest refused, exit 0', async () => {
  const dir = h.makeTempDir('shutdown');
  dirs.push(dir);
  const config = path.join(dir, 'gpufit.yaml');
  fs.writeFileSync(config, 'prices: {l4: 0.50}\n');
  const file = h.example('chat-llama3-8b.yaml');
  const expected = h.cliJson(['plan', file, '--catalog', config]);
  const workload = h.workloadFromYaml(file);

  const daemon = await h.startDaemon({config, args: ['--shutdown-grace-seconds', String(GRACE_SECONDS)]});
  const client = h.placementClient(daemon.grpcAddress);
  const health = h.healthClient(daemon.grpcAddress);

  // The reference answer, checked field by field against the CLI once; every later OK
  // answer must be identical to it.
  const reference = (await h.call(client, 'Place', {workload})).decision;
  h.assertSameMessage(reference, expected, 'Place before shutdown');
  const referenceText = JSON.stringify(reference);
  const filterUrl = `http://${daemon.httpAddress}/filter`;
  const extenderReference = await h.httpPostJson(filterUrl, EXTENDER_ARGS);
  assert.equal(extenderReference.status, 200, extenderReference.body);
  assert.equal(JSON.parse(extenderReference.body).Error, '', extenderReference.body);
  assert.equal(JSON.parse(extenderReference.body).Nodes.items.length, 3, 'the L4 nodes fit');

  const results = {ok: 0, wrong: [], failures: new Map(), unexpected: []};
  let issued = 0;
  let completed = 0;
  let stopIssuing = false;
  let signalled = false;
  let signalSent;
  const signalPromise = new Promise((resolve) => { signalSent = resolve; });

  const afterSignal = {readyz: [], health: []};

  // The extender load: EXTENDER_IN_FLIGHT calls outstanding until the port refuses them.
  const ext = {issued: 0, ok: 0, refused: new Map(), unexpected: [], inFlightAtSignal: 0};
  let extenderStop = false;
  let extenderOutstanding = 0;
  daemon.exited.then(() => { extenderStop = true; });
  const extenderDone = new Promise((resolveExtender) => {
    const issue = () => {
      while (!extenderStop && extenderOutstanding < EXTENDER_IN_FLIGHT && ext.issued < MAX_CALLS) {
        ++ext.issued;
        ++extenderOutstanding;
        const sentAfterSignal = signalled;
        h.httpPostJson(filterUrl, EXTENDER_ARGS).then((res) => {
          if (res.status === 200 && res.body === extenderReference.body) {
            ++ext.ok;
          } else {
            ext.unexpected.push(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
          }
        }, (err) => {
          if (signalled && REFUSED.has(err.code)) {
            ext.refused.set(err.code, (ext.refused.get(err.code) || 0) + 1);
            extenderStop = true;
          } else {
            ext.unexpected.push(`${err.code || err.message} (sent ${sentAfterSignal ? 'after' : 'before'} SIGTERM)`);
          }
        }).finally(() => {
          --extenderOutstanding;
          if (extenderOutstanding === 0 && (extenderStop || ext.issued >= MAX_CALLS)) {
            resolveExtender();
          } else {
            issue();
          }
        });
      }
    };
    issue();
  });

  await new Promise((resolveBurst) => {
    let outstanding = 0;
    const issue = () => {
      while (!stopIssuing && outstanding < IN_FLIGHT && issued < MAX_CALLS) {
        ++issued;
        ++outstanding;
        h.call(client, 'Place', {workload}).then((response) => {
          if (JSON.stringify(response.decision) === referenceText) {
            ++results.ok;
          } else {
            results.wrong.push(response);
          }
        }, (err) => {
          if (ALLOWED_FAILURES.has(err.code)) {
            results.failures.set(err.code, (results.failures.get(err.code) || 0) + 1);
          } else {
            results.unexpected.push(`${h.statusName(err.code)}: ${err.details}`);
          }
          // Once calls fail the server is going away: stop adding load.
          if (signalled) stopIssuing = true;
        }).finally(() => {
          --outstanding;
          ++completed;
          if (!signalled && completed >= SIGNAL_AFTER) {
            signalled = true;
            ext.inFlightAtSignal = extenderOutstanding;
            daemon.kill('SIGTERM');
            signalSent();
          }
          if (!daemon.running()) stopIssuing = true;
          if (outstanding === 0 && (stopIssuing || issued >= MAX_CALLS)) {
            resolveBurst();
          } else {
            issue();
          }
        });
      }
    };
    issue();
    daemon.exited.then(() => { stopIssuing = true; });
  });

  // While it drains: readiness must turn 503 (or the listener close), health NOT_SERVING
  // (or the server be gone). Polled until seen, bounded by the grace plus slack.
  await signalPromise;
  await h.waitFor(async () => {
    try {
      const res = await h.httpGet(`http://${daemon.httpAddress}/readyz`, {timeoutMs: 2000});
      afterSignal.readyz.push(res.status);
      return res.status === 503;
    } catch (e) {
      afterSignal.readyz.push(e.code || e.message);
      return true;  // the HTTP listener is closed: not ready either
    }
  }, {timeoutMs: (GRACE_SECONDS + 20) * 1000, intervalMs: 50, what: '/readyz to stop answering 200'});
  await h.waitFor(async () => {
    try {
      const res = await h.call(health, 'Check', {service: ''}, {deadlineMs: 2000});
      afterSignal.health.push(res.status);
      return res.status === 'NOT_SERVING';
    } catch (e) {
      afterSignal.health.push(h.statusName(e.code));
      return e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.CANCELLED;
    }
  }, {timeoutMs: (GRACE_SECONDS + 20) * 1000, intervalMs: 50, what: 'health to stop reporting SERVING'});

  // Exits by itself within the grace (bounded wait, generous slack for a loaded CI machine).
  const status = await h.withTimeout(daemon.exited, (GRACE_SECONDS + 30) * 1000);
  const extenderSettled = await h.withTimeout(extenderDone.then(() => true), 60000, false);
  client.close();
  health.close();
  if (status === null) {
    daemon.kill('SIGKILL');
    assert.fail(`gpufitd did not exit after SIGTERM within ${GRACE_SECONDS + 30} s\n${daemon.tail()}`);
  }

  const summary = `issued ${issued}, ok ${results.ok}, ` +
      `failures ${JSON.stringify([...results.failures].map(([c, n]) => [h.statusName(c), n]))}, ` +
      `readyz after SIGTERM ${JSON.stringify(afterSignal.readyz.slice(-3))}, ` +
      `health after SIGTERM ${JSON.stringify(afterSignal.health.slice(-3))}; ` +
      `extender: issued ${ext.issued}, ok ${ext.ok}, in flight at SIGTERM ${ext.inFlightAtSignal}, ` +
      `refused ${JSON.stringify([...ext.refused])}`;
  console.log(`shutdown burst: ${summary}`);

  assert.ok(signalled, `SIGTERM was sent (${summary})`);
  assert.deepEqual(status, {code: 0, signal: null}, `gpufitd exit status\n${daemon.tail()}`);
  assert.deepEqual(results.unexpected.slice(0, 10), [], `calls failed with other codes (${summary})`);
  assert.equal(results.wrong.length, 0, `OK calls with a wrong decision (${summary})`);
  const failed = [...results.failures.values()].reduce((a, b) => a + b, 0);
  assert.equal(results.ok + failed, issued, `every call accounted for (${summary})`);
  assert.ok(results.ok >= SIGNAL_AFTER - IN_FLIGHT, `calls before SIGTERM succeeded (${summary})`);

  assert.ok(extenderSettled, `every extender call settled (${summary})`);
  assert.deepEqual(ext.unexpected.slice(0, 10), [], `extender calls with another outcome (${summary})`);
  const refused = [...ext.refused.values()].reduce((a, b) => a + b, 0);
  assert.equal(ext.ok + refused, ext.issued, `every extender call accounted for (${summary})`);
  assert.ok(ext.inFlightAtSignal > 0, `extender calls were in flight at SIGTERM (${summary})`);
  assert.ok(ext.ok > 0, `extender calls succeeded (${summary})`);
});

// One HTTP/1.1 connection driven by hand, so that a request can be left half-sent.
class RawHttpConnection {
  constructor(address) {
    const [host, port] = address.split(':');
    this.socket = net.connect(Number(port), host);
    this.buffer = Buffer.alloc(0);
    this.waiters = [];
    this.closed = false;
    this.socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiters.forEach((w) => w());
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.waiters.forEach((w) => w());
    });
    this.socket.on('error', () => {});
  }

  static request(path, body) {
    const data = Buffer.from(JSON.stringify(body));
    const head = Buffer.from(`POST ${path} HTTP/1.1\r\nHost: gpufitd\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${data.length}\r\n\r\n`);
    return Buffer.concat([head, data]);
  }

  write(bytes) {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  // The next whole response: {status, body}; rejects if the connection closes first.
  readResponse() {
    return new Promise((resolve, reject) => {
      const check = () => {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end >= 0) {
          const head = this.buffer.subarray(0, end).toString();
          const length = Number((/content-length: *(\d+)/i.exec(head) || [0, 0])[1]);
          if (this.buffer.length >= end + 4 + length) {
            const body = this.buffer.subarray(end + 4, end + 4 + length).toString();
            this.buffer = this.buffer.subarray(end + 4 + length);
            this.waiters = this.waiters.filter((w) => w !== check);
            resolve({status: Number(head.split(' ')[1]), body});
            return;
          }
        }
        if (this.closed) reject(new Error(`connection closed before a whole answer: ${this.buffer.toString().slice(0, 200)}`));
      };
      this.waiters.push(check);
      check();
    });
  }

  close() {
    this.socket.destroy();
  }
}

test('SIGTERM while an extender request is being received: it is answered, then the port closes', async () => {
  const daemon = await h.startDaemon({args: ['--shutdown-grace-seconds', String(GRACE_SECONDS)]});
  const conn = new RawHttpConnection(daemon.httpAddress);
  try {
    // A first call on the connection: once answered, gpufitd has accepted the connection.
    const request = RawHttpConnection.request('/filter', EXTENDER_ARGS);
    await conn.write(request);
    const first = await h.withTimeout(conn.readResponse(), 30000, {status: 'no answer'});
    assert.equal(first.status, 200, first.body);

    // The second call, half sent: gpufitd is reading it when SIGTERM arrives.
    const half = Math.floor(request.length / 2);
    await conn.write(request.subarray(0, half));
    await h.sleep(300);  // lets the server's worker start reading (not a timing assertion)
    daemon.kill('SIGTERM');
    await daemon.waitForLog((l) => l.msg === 'shutting down' || l.msg === 'stopped', {what: 'shutdown to start'})
        .catch(() => {});  // the process may already be on its way out
    await conn.write(request.subarray(half));
    const second = await h.withTimeout(conn.readResponse(), 30000, {status: 'no answer'});
    assert.equal(second.status, 200, `the call in flight at SIGTERM is answered: ${second.body}`);
    assert.equal(second.body, first.body, 'with the same answer');

    // New calls are refused, and gpufitd exits 0.
    const status = await h.withTimeout(daemon.exited, (GRACE_SECONDS + 30) * 1000);
    assert.deepEqual(status, {code: 0, signal: null}, daemon.tail());
    await assert.rejects(h.httpPostJson(`http://${daemon.httpAddress}/filter`, EXTENDER_ARGS),
        (err) => err.code === 'ECONNREFUSED');
  } finally {
    conn.close();
    daemon.kill('SIGKILL');
  }
});

test('SIGTERM when idle exits 0 and logs nothing at error level', async () => {
  const daemon = await h.startDaemon({args: ['--shutdown-grace-seconds', String(GRACE_SECONDS)]});
  const status = await daemon.stop({timeoutMs: (GRACE_SECONDS + 30) * 1000});
  assert.deepEqual(status, {code: 0, signal: null});
  const errors = daemon.findLogs((l) => /^(error|fatal|critical)$/i.test(String(l.level || l.severity || '')));
  assert.deepEqual(errors, [], 'no error lines');
  for (const line of daemon.logs) assert.equal(line.raw, undefined, `a non-JSON log line: ${line.raw}`);
});

// Issue 13: SIGTERM with a 2 s grace took 57 s while a KEDA query waited on a Prometheus that
// never answered. A query in flight now ends with the grace period at the latest.
test('SIGTERM while a KEDA query waits on a silent Prometheus: exits within the grace, the call fails', async () => {
  const {kedaClients, scaledObjectRef} = require('./lib/keda');
  const dir = h.makeTempDir('shutdown-keda');
  dirs.push(dir);
  // Accepts, reads the request, never answers.
  const sockets = new Set();
  let requests = 0;
  let closedByGpufitd = 0;
  const silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => { requests += 1; });
    socket.on('close', () => { closedByGpufitd += 1; sockets.delete(socket); });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentUrl = `http://127.0.0.1:${silent.address().port}`;
  const config = path.join(dir, 'gpufit.yaml');
  fs.writeFileSync(config, `prometheus: {servers: [${silentUrl}]}\n`);
  const daemon = await h.startDaemon({config, args: ['--shutdown-grace-seconds', '2',
    '--prometheus-timeout-seconds', '600']});
  const {scaler} = kedaClients(daemon.grpcAddress);
  try {
    // No deadline: only the shutdown can end this call.
    const call = h.call(scaler, 'GetMetrics', {
      scaledObjectRef: scaledObjectRef({model: 'llama-3-8b', accelerator: 'l4', query: 'up'}),
      metricName: 's0-m'}, {deadlineMs: 600000}).then(() => null, (err) => err);
    await h.waitFor(() => requests > 0, {timeoutMs: 30000, what: 'the query to reach the silent Prometheus'});
    // The probe's SIGTERM took 57 s; the grace is 2 s. The bound only catches a hang.
    const status = await daemon.stop({timeoutMs: 20000});
    assert.deepEqual(status, {code: 0, signal: null}, daemon.tail());
    const err = await h.withTimeout(call, 10000, 'timeout');
    assert.notEqual(err, 'timeout', 'the call ended');
    assert.ok(err, 'the call failed');
    assert.ok([grpc.status.UNAVAILABLE, grpc.status.CANCELLED].includes(err.code), `${err.code}: ${err.details}`);
    await h.waitFor(() => closedByGpufitd > 0, {timeoutMs: 10000, what: 'gpufitd to close the query connection'});
  } finally {
    scaler.close();
    if (daemon.running()) daemon.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

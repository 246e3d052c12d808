'use strict';
// SIGTERM under load: gpufitd drains (readiness 503, health NOT_SERVING), lets in-flight
// calls finish within the grace and exits 0. Every call the client saw succeed carries the
// right decision; every other call failed with UNAVAILABLE or CANCELLED, never a wrong answer
// or another code.

const {test, after} = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');

const {grpc} = h;

const GRACE_SECONDS = 5;
const IN_FLIGHT = 200;        // concurrent Place calls kept outstanding
const SIGNAL_AFTER = 400;     // completions before SIGTERM: the burst is under way
const MAX_CALLS = 20000;      // bound on the whole burst
const ALLOWED_FAILURES = new Set([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]);

const dirs = [];
after(() => dirs.forEach(h.removeDir));

test('SIGTERM mid-burst: OK answers are right, the rest UNAVAILABLE/CANCELLED, exit 0', async () => {
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

  const results = {ok: 0, wrong: [], failures: new Map(), unexpected: []};
  let issued = 0;
  let completed = 0;
  let stopIssuing = false;
  let signalled = false;
  let signalSent;
  const signalPromise = new Promise((resolve) => { signalSent = resolve; });

  const afterSignal = {readyz: [], health: []};

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
  client.close();
  health.close();
  if (status === null) {
    daemon.kill('SIGKILL');
    assert.fail(`gpufitd did not exit after SIGTERM within ${GRACE_SECONDS + 30} s\n${daemon.tail()}`);
  }

  const summary = `issued ${issued}, ok ${results.ok}, ` +
      `failures ${JSON.stringify([...results.failures].map(([c, n]) => [h.statusName(c), n]))}, ` +
      `readyz after SIGTERM ${JSON.stringify(afterSignal.readyz.slice(-3))}, ` +
      `health after SIGTERM ${JSON.stringify(afterSignal.health.slice(-3))}`;
  console.log(`shutdown burst: ${summary}`);

  assert.ok(signalled, `SIGTERM was sent (${summary})`);
  assert.deepEqual(status, {code: 0, signal: null}, `gpufitd exit status\n${daemon.tail()}`);
  assert.deepEqual(results.unexpected.slice(0, 10), [], `calls failed with other codes (${summary})`);
  assert.equal(results.wrong.length, 0, `OK calls with a wrong decision (${summary})`);
  const failed = [...results.failures.values()].reduce((a, b) => a + b, 0);
  assert.equal(results.ok + failed, issued, `every call accounted for (${summary})`);
  assert.ok(results.ok >= SIGNAL_AFTER - IN_FLIGHT, `calls before SIGTERM succeeded (${summary})`);
});

test('SIGTERM when idle exits 0 and logs nothing at error level', async () => {
  const daemon = await h.startDaemon({args: ['--shutdown-grace-seconds', String(GRACE_SECONDS)]});
  const status = await daemon.stop({timeoutMs: (GRACE_SECONDS + 30) * 1000});
  assert.deepEqual(status, {code: 0, signal: null});
  const errors = daemon.findLogs((l) => /^(error|fatal|critical)$/i.test(String(l.level || l.severity || '')));
  assert.deepEqual(errors, [], 'no error lines');
  for (const line of daemon.logs) assert.equal(line.raw, undefined, `a non-JSON log line: ${line.raw}`);
});

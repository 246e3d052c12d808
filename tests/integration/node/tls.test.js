'use strict';
// gpufitd's gRPC port with TLS (--tls-cert/--tls-key) and mutual TLS (--tls-client-ca),
// against grpc-js, and its HTTP port over HTTPS (--http-tls-*) against Node's https client as
// kube-scheduler's extender client uses it (enableHTTPS + tlsConfig certFile/keyFile/caFile);
// certificate rotation without a restart on both ports. Certificates are made by openssl for
// this run (a throwaway CA, server certificates for IP 127.0.0.1, client certificates, and a
// second CA whose client certificate must be refused).

const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const tls = require('node:tls');
const h = require('./lib/harness');

const {grpc} = h;
const OPENSSL = process.env.OPENSSL_BIN || 'openssl';

let dir;
const pem = {};

function openssl(args) {
  const r = childProcess.spawnSync(OPENSSL, args, {cwd: dir, encoding: 'utf8', timeout: 60000});
  assert.equal(r.error, undefined, `running ${OPENSSL}: ${r.error}`);
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

// A key and a certificate signed by the CA `ca` (ca.pem/ca.key), with the given extensions.
function issue(name, subject, extensions, ca = 'ca') {
  fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
    '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`]);
}

const SERVER_EXT = 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n';
const CLIENT_EXT = 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n';

before(() => {
  dir = h.makeTempDir('tls');
  for (const [name, cn] of [['ca', 'gpufit integration test CA'], ['other-ca', 'some other CA']]) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${cn}`]);
  }
  issue('server', '/CN=127.0.0.1', SERVER_EXT);
  issue('server2', '/CN=127.0.0.1', SERVER_EXT);  // the rotation: its own key and serial
  issue('client', '/CN=gpufit-test-client', CLIENT_EXT);
  issue('intruder', '/CN=gpufit-test-client', CLIENT_EXT, 'other-ca');
  for (const f of ['ca.pem', 'server.pem', 'server.key', 'server2.pem', 'server2.key',
    'client.pem', 'client.key', 'intruder.pem', 'intruder.key']) {
    pem[f] = fs.readFileSync(path.join(dir, f));
  }
});

after(() => h.removeDir(dir));

function client(address, credentials) {
  const {root} = h.protos();
  return new root.gpufit.v1.PlacementService(address, credentials);
}

// Place with `credentials` either answers (true) or fails with `expectedCode` (false).
async function placeWith(address, credentials) {
  const c = client(address, credentials);
  try {
    const workload = h.workloadFromYaml(h.example('chat-llama3-8b.yaml'));
    const {decision} = await h.call(c, 'Place', {workload}, {deadlineMs: 10000});
    assert.equal(decision.workload_name, 'chat-llama3-8b');
    return null;
  } catch (err) {
    if (err.code === undefined) throw err;
    return err;
  } finally {
    c.close();
  }
}

test('TLS: a client trusting the CA is served; a plaintext client is not', async () => {
  const daemon = await h.startDaemon({args: [
    '--tls-cert', path.join(dir, 'server.pem'), '--tls-key', path.join(dir, 'server.key')]});
  try {
    assert.equal(await placeWith(daemon.grpcAddress, grpc.credentials.createSsl(pem['ca.pem'])), null,
        'Place over TLS');
    const plain = await placeWith(daemon.grpcAddress, grpc.credentials.createInsecure());
    assert.ok(plain, 'a plaintext call must fail');
    assert.equal(plain.code, grpc.status.UNAVAILABLE, `plaintext: ${h.statusName(plain.code)} ${plain.details}`);
  } finally {
    assert.equal((await daemon.stop()).code, 0);
  }
});

test('mTLS: only a client with a certificate from --tls-client-ca is served', async () => {
  const daemon = await h.startDaemon({args: [
    '--tls-cert', path.join(dir, 'server.pem'), '--tls-key', path.join(dir, 'server.key'),
    '--tls-client-ca', path.join(dir, 'ca.pem')]});
  try {
    const withCert = grpc.credentials.createSsl(pem['ca.pem'], pem['client.key'], pem['client.pem']);
    assert.equal(await placeWith(daemon.grpcAddress, withCert), null, 'Place with a client certificate');
    const noCert = await placeWith(daemon.grpcAddress, grpc.credentials.createSsl(pem['ca.pem']));
    assert.ok(noCert, 'a call without a client certificate must fail');
    assert.equal(noCert.code, grpc.status.UNAVAILABLE, `no client cert: ${h.statusName(noCert.code)} ${noCert.details}`);
  } finally {
    assert.equal((await daemon.stop()).code, 0);
  }
});

test('a missing certificate file stops gpufitd at startup with a non-zero exit', async () => {
  const daemon = new h.Child(h.GPUFITD, ['--grpc-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0',
    '--tls-cert', path.join(dir, 'missing.pem'), '--tls-key', path.join(dir, 'server.key')]);
  const status = await h.withTimeout(daemon.exited, 30000);
  if (status === null) {
    daemon.kill('SIGKILL');
    assert.fail('gpufitd kept running with a missing --tls-cert');
  }
  assert.notEqual(status.code, 0, 'exit code');
  assert.match(daemon.stderrLines.join('\n'), /missing\.pem/, 'the error names the file');
});

// --- HTTPS on the HTTP port, and certificate rotation -----------------------------------------

// A request to gpufitd's HTTPS port as kube-scheduler makes it: trusting the test CA and
// presenting `client` (client.pem/.key) unless null. Resolves {status, body}; rejects when
// the connection is refused (handshake failure, reset).
function httpsRequest(address, pathname, {client = 'client', method = 'GET', body} = {}) {
  const [host, port] = address.split(':');
  const opts = {host, port: Number(port), path: pathname, method, ca: pem['ca.pem'], agent: false,
    timeout: 10000, headers: body ? {'Content-Type': 'application/json'} : {}};
  if (client) Object.assign(opts, {key: pem[`${client}.key`], cert: pem[`${client}.pem`]});
  return new Promise((resolve, reject) => {
    const req = https.request(opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({status: res.statusCode, body: text}));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathname}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

// SHA-256 fingerprint of the certificate `address` presents to a new connection (as the test
// client, with its client certificate; h2 offered, as gRPC clients do).
function servedFingerprint(address) {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({host, port: Number(port), ca: pem['ca.pem'], key: pem['client.key'],
      cert: pem['client.pem'], ALPNProtocols: ['h2', 'http/1.1']}, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.setTimeout(10000, () => socket.destroy(new Error(`TLS to ${address}: no handshake in 10 s`)));
    socket.on('error', reject);
  });
}

function fingerprintOf(file) {
  const r = childProcess.spawnSync(OPENSSL, ['x509', '-noout', '-fingerprint', '-sha256', '-in', file],
      {encoding: 'utf8'});
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().replace(/^.*=/, '');
}

// Replaces `to` in the served directory in one rename, as a Kubernetes Secret volume does.
function writeLive(liveDir, to, content) {
  const tmp = path.join(liveDir, `.${to}.tmp`);
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, path.join(liveDir, to));
}

async function scrapeHttps(daemon) {
  const res = await httpsRequest(daemon.httpAddress, '/metrics');
  assert.equal(res.status, 200);
  return h.parsePrometheusText(res.body);
}

// A filter call in kube-scheduler's shape (nodeCacheCapable: false): an L4 node that can serve
// the pod's workload and a node without GPUs.
function filterRequest() {
  return JSON.stringify({
    Pod: {metadata: {name: 'chat', annotations: {'gpufit.io/model': 'llama-3-8b',
      'gpufit.io/precision': 'fp8', 'gpufit.io/target-concurrency': '50'}}},
    Nodes: {items: [
      {metadata: {name: 'gpu-l4-0', labels: {'nvidia.com/gpu.product': 'NVIDIA-L4', 'nvidia.com/gpu.count': '1'}},
        status: {allocatable: {'nvidia.com/gpu': '1'}}},
      {metadata: {name: 'cpu-0'}}]},
  });
}

test('HTTPS extender with client certificates: served with one from the CA, refused without', async () => {
  const daemon = await h.startDaemon({args: [
    '--http-tls-cert', path.join(dir, 'server.pem'), '--http-tls-key', path.join(dir, 'server.key'),
    '--http-tls-client-ca', path.join(dir, 'ca.pem')]});
  try {
    assert.equal(daemon.serving.http_tls, 'mtls');
    const body = filterRequest();
    const ok = await httpsRequest(daemon.httpAddress, '/filter', {method: 'POST', body});
    assert.equal(ok.status, 200, ok.body);
    const verdict = JSON.parse(ok.body);
    assert.equal(verdict.Error, '', 'no extender error');
    assert.deepEqual(verdict.Nodes.items.map((n) => n.metadata.name), ['gpu-l4-0']);
    assert.ok(verdict.FailedAndUnresolvableNodes['cpu-0'], 'the node without GPUs is filtered out');

    await assert.rejects(httpsRequest(daemon.httpAddress, '/filter', {method: 'POST', body, client: null}),
        'a client without a certificate is refused');
    await assert.rejects(httpsRequest(daemon.httpAddress, '/filter', {method: 'POST', body, client: 'intruder'}),
        'a client certificate from another CA is refused');
    await assert.rejects(h.httpGet(`http://${daemon.httpAddress}/healthz`), 'plain HTTP to the HTTPS port fails');
    // Still serving after the refusals.
    assert.equal((await httpsRequest(daemon.httpAddress, '/readyz')).status, 200);
  } finally {
    assert.equal((await daemon.stop()).code, 0);
  }
});

test('rotated certificate files reach new connections on both ports without a restart', async () => {
  const live = path.join(dir, 'live-rotate');
  fs.mkdirSync(live);
  writeLive(live, 'tls.crt', pem['server.pem']);
  writeLive(live, 'tls.key', pem['server.key']);
  const [crt, key, ca] = [path.join(live, 'tls.crt'), path.join(live, 'tls.key'), path.join(dir, 'ca.pem')];
  const daemon = await h.startDaemon({args: ['--reload-poll-seconds', '1',
    '--tls-cert', crt, '--tls-key', key, '--tls-client-ca', ca,
    '--http-tls-cert', crt, '--http-tls-key', key, '--http-tls-client-ca', ca]});
  try {
    const before = fingerprintOf(path.join(dir, 'server.pem'));
    const after = fingerprintOf(path.join(dir, 'server2.pem'));
    assert.equal(await servedFingerprint(daemon.grpcAddress), before);
    assert.equal(await servedFingerprint(daemon.httpAddress), before);

    writeLive(live, 'tls.key', pem['server2.key']);
    writeLive(live, 'tls.crt', pem['server2.pem']);
    for (const [port, address] of [['gRPC', daemon.grpcAddress], ['HTTPS', daemon.httpAddress]]) {
      await h.waitFor(async () => (await servedFingerprint(address)) === after,
          {timeoutMs: 20000, intervalMs: 200, what: `${port} serving the new certificate`});
    }
    // Still serving, with the new certificate.
    const withCert = grpc.credentials.createSsl(pem['ca.pem'], pem['client.key'], pem['client.pem']);
    assert.equal(await placeWith(daemon.grpcAddress, withCert), null, 'Place after the rotation');
    assert.equal((await httpsRequest(daemon.httpAddress, '/readyz')).status, 200);
    const samples = await scrapeHttps(daemon);
    for (const listener of ['grpc', 'http']) {
      assert.ok(h.sampleValue(samples, 'gpufit_tls_certificate_reloads_total', {listener, result: 'success'}) >= 1,
          `${listener} reload counted`);
    }
    assert.ok(daemon.logs.some((l) => l.msg === 'tls certificate reloaded' && l.listener === 'http'));
  } finally {
    assert.equal((await daemon.stop()).code, 0);
  }
});

test('a garbage replacement keeps the certificate in force and counts a failure', async () => {
  const live = path.join(dir, 'live-garbage');
  fs.mkdirSync(live);
  writeLive(live, 'tls.crt', pem['server.pem']);
  writeLive(live, 'tls.key', pem['server.key']);
  const [crt, key] = [path.join(live, 'tls.crt'), path.join(live, 'tls.key')];
  // SIGHUP only, so that the one change is one reload.
  const daemon = await h.startDaemon({args: ['--reload-poll-seconds', '0',
    '--tls-cert', crt, '--tls-key', key, '--http-tls-cert', crt, '--http-tls-key', key]});
  try {
    const served = fingerprintOf(path.join(dir, 'server.pem'));
    writeLive(live, 'tls.crt', 'garbage\n');
    daemon.kill('SIGHUP');
    await daemon.waitForLog((l) => l.msg === 'tls reload failed; the previous certificate stays in force' &&
        l.listener === 'http', {what: 'the failed reload log line'});
    await daemon.waitForLog((l) => l.msg === 'tls reload failed; the previous certificate stays in force' &&
        l.listener === 'grpc', {what: 'the failed reload log line'});
    const samples = await scrapeHttps(daemon);
    for (const listener of ['grpc', 'http']) {
      assert.equal(h.sampleValue(samples, 'gpufit_tls_certificate_reloads_total', {listener, result: 'failure'}), 1);
      assert.equal(h.sampleValue(samples, 'gpufit_tls_certificate_reloads_total', {listener, result: 'success'}), 0);
    }
    assert.ok(h.sampleValue(samples, 'gpufit_tls_certificate_expiry_timestamp_seconds', {listener: 'http'}) >
        Date.now() / 1000, 'expiry of the certificate in force');
    // gRPC's own file watcher looks once a second; give it two looks, then check.
    await h.sleep(2500);
    assert.equal(await servedFingerprint(daemon.grpcAddress), served);
    assert.equal(await servedFingerprint(daemon.httpAddress), served);
    assert.equal(await placeWith(daemon.grpcAddress, grpc.credentials.createSsl(pem['ca.pem'])), null);
  } finally {
    assert.equal((await daemon.stop()).code, 0);
  }
});

test('Prometheus scrapes /metrics over HTTPS with a client certificate; without one it cannot', async () => {
  const daemon = await h.startDaemon({args: [
    '--http-tls-cert', path.join(dir, 'server.pem'), '--http-tls-key', path.join(dir, 'server.key'),
    '--http-tls-client-ca', path.join(dir, 'ca.pem')]});
  const proms = [];
  try {
    const tlsConfig = {ca_file: path.join(dir, 'ca.pem')};
    for (const [job, extra] of [['gpufit-mtls', {cert_file: path.join(dir, 'client.pem'), key_file: path.join(dir, 'client.key')}],
      ['gpufit-nocert', {}]]) {
      proms.push(await h.startPrometheus({dir, job, target: daemon.httpAddress,
        scrape: {scheme: 'https', tls_config: {...tlsConfig, ...extra}}}));
    }
    const [withCert, withoutCert] = proms;
    const expiry = await h.waitFor(async () => {
      const r = await h.promQuery(withCert.url, 'gpufit_tls_certificate_expiry_timestamp_seconds{listener="http"}');
      return r.length === 1 ? r[0].value : undefined;
    }, {timeoutMs: 30000, intervalMs: 250, what: 'the TLS expiry metric scraped over mTLS'});
    assert.ok(expiry > Date.now() / 1000);
    const refused = await h.waitFor(async () => {
      const r = await h.promQuery(withoutCert.url, 'up{job="gpufit-nocert"}');
      return r.length === 1 ? r : undefined;
    }, {timeoutMs: 30000, intervalMs: 250, what: 'a scrape result without a client certificate'});
    assert.equal(refused[0].value, 0, 'a scrape without a client certificate fails');
  } finally {
    for (const p of proms) {
      await p.child.stop();
      h.removeDir(p.child.storage);
    }
    assert.equal((await daemon.stop()).code, 0);
  }
});

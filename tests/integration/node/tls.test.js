'use strict';
// gpufitd's gRPC port with TLS (--tls-cert/--tls-key) and mutual TLS (--tls-client-ca),
// against grpc-js with certificates made by openssl for this run (a throwaway CA, a server
// certificate for IP 127.0.0.1, a client certificate).

const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
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

// A key and a certificate signed by the test CA, with the given extensions.
function issue(name, subject, extensions) {
  fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`]);
}

before(() => {
  dir = h.makeTempDir('tls');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=gpufit integration test CA']);
  issue('server', '/CN=127.0.0.1',
      'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  issue('client', '/CN=gpufit-test-client',
      'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  for (const f of ['ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key']) {
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

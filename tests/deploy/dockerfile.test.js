'use strict';
// deploy/Dockerfile cannot be built here (no container engine), so this checks what can be:
// the runtime stage installs real Debian 12 packages whose dependency closure provides every
// shared library build/gpufitd and build/gpufit link; it runs as UID 65532 with gpufitd as the
// entrypoint; the build stage uses the project's own scripts.

const {test} = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const d = require('./lib/deploy');

const DOCKERFILE = fs.readFileSync(path.join(d.SOURCE_DIR, 'deploy', 'Dockerfile'), 'utf8');
const BIN_DIR = process.env.GPUFIT_BIN_DIR || path.join(d.SOURCE_DIR, 'build');

function stage(name) {
  const m = new RegExp(`^FROM \\S+ AS ${name}\\n([\\s\\S]*?)(?=^FROM |(?![\\s\\S]))`, 'm').exec(DOCKERFILE);
  assert.ok(m, `no stage ${name}`);
  return m[1].replace(/\\\n/g, ' ');
}

function runtimePackages() {
  const m = /apt-get install -y --no-install-recommends\s+([^&]+)&&/.exec(stage('runtime'));
  assert.ok(m, 'runtime stage: no apt-get install');
  return m[1].trim().split(/\s+/);
}

test('build stage: Debian 12 with the project\'s install and build scripts', () => {
  assert.match(DOCKERFILE, /^ARG DEBIAN_IMAGE=debian:12(-slim)?$/m);
  const build = stage('build');
  assert.match(build, /scripts\/install-deps\.sh/);
  assert.match(build, /scripts\/build\.sh/);
});

test('runtime stage: non-root, gpufitd entrypoint, both binaries, no compilers', () => {
  const runtime = stage('runtime');
  assert.match(runtime, /^USER 65532:65532$/m);
  assert.match(runtime, /^ENTRYPOINT \["\/usr\/local\/bin\/gpufitd"\]$/m);
  assert.match(runtime, /COPY --from=build \/build\/gpufitd \/build\/gpufit \/usr\/local\/bin\//);
  for (const p of runtimePackages()) assert.doesNotMatch(p, /-dev$|^build-essential$|^cmake$|^g\+\+/, p);
  // The default target is the runtime image.
  assert.match(DOCKERFILE, /\nFROM runtime\s*$/);
});

test('runtime packages exist in Debian 12 and provide every shared library the binaries link', () => {
  const pkgs = runtimePackages();
  const closure = new Set(d.run('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts',
    '--no-breaks', '--no-replaces', '--no-enhances', ...pkgs]).stdout.split('\n').filter((l) => l && !l.startsWith(' ')));
  for (const p of pkgs) assert.ok(closure.has(p), `${p}: not a Debian package here`);
  const needed = new Set();
  assert.ok(fs.existsSync(path.join(BIN_DIR, 'gpufitd')), `gpufitd not built in ${BIN_DIR}`);
  // gpufit links a subset of gpufitd's libraries; checked too where it is built.
  for (const bin of ['gpufitd', 'gpufit'].filter((b) => fs.existsSync(path.join(BIN_DIR, b)))) {
    const ldd = d.run('ldd', [path.join(BIN_DIR, bin)]).stdout;
    for (const m of ldd.matchAll(/=>\s+(\/\S+)/g)) {
      const real = fs.realpathSync(m[1]);
      const owner = d.run('dpkg', ['-S', real], {allowFailure: true});
      const alt = owner.status === 0 ? owner : d.run('dpkg', ['-S', real.replace(/^\/usr/, '')], {allowFailure: true});
      assert.equal(alt.status, 0, `${real}: no Debian package owns it`);
      needed.add(alt.stdout.split(':')[0]);
    }
  }
  const missing = [...needed].filter((p) => !closure.has(p));
  assert.deepEqual(missing, [], 'libraries the binaries link but the runtime image would lack');
});

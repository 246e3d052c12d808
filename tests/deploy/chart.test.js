'use strict';
// The Helm chart (helm/gpufit) with the real helm: lint and render every ci/*-values.yaml,
// validate every rendered object against the Kubernetes API schemas, and check what the chart
// promises: hardened pods, probes, grace periods, least-privilege RBAC, a config gpufitd
// accepts, monitoring files identical to deploy/, a schema that rejects wrong types.

const {test} = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const d = require('./lib/deploy');

const FULL = path.join(d.CHART_DIR, 'ci', 'full-values.yaml');
const TLS = path.join(d.CHART_DIR, 'ci', 'tls-values.yaml');
const rendered = new Map();  // values file -> objects
function objectsFor(file) {
  if (!rendered.has(file)) rendered.set(file, d.render({valuesFile: file}));
  return rendered.get(file);
}
const scenarioName = (f) => path.basename(f, '-values.yaml');

test('there are minimal, full and tls scenarios', () => {
  assert.deepEqual(d.CI_VALUES.map(scenarioName), ['full', 'minimal', 'tls']);
});

for (const file of d.CI_VALUES) {
  test(`helm lint --strict (${scenarioName(file)})`, () => {
    const r = d.helm(['lint', '--strict', d.CHART_DIR, '--values', file]);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test(`rendered objects match the Kubernetes API schemas (${scenarioName(file)})`, async () => {
    const objects = objectsFor(file);
    assert.ok(objects.length >= 7, `only ${objects.length} objects`);
    assert.deepEqual(await d.schemaErrors(objects), []);
    for (const o of objects) {
      assert.ok(o.metadata.name.length <= 63, `${o.kind}/${o.metadata.name}: name over 63 characters`);
      assert.equal(o.metadata.labels['app.kubernetes.io/part-of'], 'gpufit', `${o.kind}/${o.metadata.name}: labels`);
    }
  });

  test(`pods are hardened (${scenarioName(file)})`, () => {
    const objects = objectsFor(file);
    const pods = [
      ...d.find(objects, 'Deployment').map((o) => [`Deployment/${o.metadata.name}`, o.spec.template.spec]),
      ...d.find(objects, 'Pod').map((o) => [`Pod/${o.metadata.name}`, o.spec]),
    ];
    assert.ok(pods.length >= 2);
    for (const [where, spec] of pods) {
      assert.equal(spec.securityContext.runAsNonRoot, true, `${where}: pod runAsNonRoot`);
      assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault', `${where}: pod seccomp`);
      assert.equal(spec.hostNetwork, undefined, `${where}: hostNetwork`);
      assert.equal(spec.hostPID, undefined, `${where}: hostPID`);
      for (const c of spec.containers) {
        const sc = c.securityContext;
        assert.ok(sc, `${where}/${c.name}: securityContext`);
        assert.equal(sc.runAsNonRoot, true, `${where}/${c.name}: runAsNonRoot`);
        assert.equal(sc.readOnlyRootFilesystem, true, `${where}/${c.name}: readOnlyRootFilesystem`);
        assert.equal(sc.allowPrivilegeEscalation, false, `${where}/${c.name}: allowPrivilegeEscalation`);
        assert.notEqual(sc.privileged, true, `${where}/${c.name}: privileged`);
        assert.deepEqual(sc.capabilities, {drop: ['ALL']}, `${where}/${c.name}: capabilities`);
        assert.equal(sc.seccompProfile.type, 'RuntimeDefault', `${where}/${c.name}: seccomp`);
        assert.ok(c.resources && c.resources.requests && c.resources.limits && c.resources.limits.memory,
            `${where}/${c.name}: resources`);
      }
    }
  });

  test(`gpufitd Deployment: replicas, probes, grace, anti-affinity, ports (${scenarioName(file)})`, () => {
    const objects = objectsFor(file);
    const values = d.YAML.parse(fs.readFileSync(file, 'utf8')) || {};
    const dep = d.one(objects, 'Deployment', (o) => o.metadata.labels['app.kubernetes.io/component'] === 'server');
    const spec = dep.spec.template.spec;
    const c = spec.containers.find((x) => x.name === 'gpufitd');
    assert.equal(dep.spec.replicas, values.replicaCount || 2);
    const arg = (flag) => {
      const a = c.args.find((x) => x.startsWith(`--${flag}=`));
      return a && a.slice(flag.length + 3);
    };
    const grace = Number(arg('shutdown-grace-seconds'));
    assert.ok(spec.terminationGracePeriodSeconds > grace,
        `terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} <= shutdown grace ${grace}`);
    assert.equal(arg('grpc-address'), '0.0.0.0:50051');
    assert.equal(arg('http-address'), '0.0.0.0:8080');
    assert.equal(arg('config'), '/etc/gpufit/gpufitd.yaml');
    const httpTls = values.http && values.http.tls && values.http.tls.enabled;
    const httpMtls = httpTls && values.http.tls.clientCA && values.http.tls.clientCA.enabled;
    assert.deepEqual(c.ports.map((p) => [p.name, p.containerPort]),
        [['grpc', 50051], ['http', 8080], ...(httpMtls ? [['health', 8081]] : [])]);
    if (values.tls && values.tls.enabled) {
      // kubelet gRPC probes cannot speak TLS: HTTP probes, on the plain health port when the
      // HTTP port requires client certificates (the kubelet has none), HTTPS without them.
      const port = httpMtls ? {port: 'health'} : httpTls ? {port: 'http', scheme: 'HTTPS'} : {port: 'http'};
      assert.deepEqual(c.livenessProbe.httpGet, {path: '/healthz', ...port});
      assert.deepEqual(c.readinessProbe.httpGet, {path: '/readyz', ...port});
      assert.ok(arg('tls-cert') && arg('tls-key'));
    } else {
      assert.deepEqual(c.livenessProbe.grpc, {port: 50051, service: ''});
      assert.deepEqual(c.readinessProbe.grpc, {port: 50051, service: 'gpufit.v1.PlacementService'});
    }
    assert.ok(c.startupProbe);
    assert.match(dep.spec.template.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/);
    if (!values.affinity) {
      const term = spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0];
      assert.equal(term.podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
      assert.deepEqual(term.podAffinityTerm.labelSelector.matchLabels, dep.spec.selector.matchLabels);
    }
    const svc = d.one(objects, 'Service');
    assert.deepEqual(svc.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [['grpc', 50051, 'grpc'], ['http', 8080, 'http']]);
    assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels);
    const pdb = d.one(objects, 'PodDisruptionBudget');
    assert.deepEqual(pdb.spec.selector.matchLabels, dep.spec.selector.matchLabels);
    assert.equal(spec.serviceAccountName, d.one(objects, 'ServiceAccount', (o) => !o.metadata.name.endsWith('-scheduler')).metadata.name);
  });

  test(`RBAC: gpufitd reads nodes and nothing else; the scheduler gets the upstream roles (${scenarioName(file)})`, () => {
    const objects = objectsFor(file);
    const gpufitRoles = d.find(objects, 'ClusterRole');
    assert.equal(gpufitRoles.length, 1);
    assert.deepEqual(gpufitRoles[0].rules, [{apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch']}]);
    const schedulerOn = d.find(objects, 'Deployment').length === 2;
    const bindings = [...d.find(objects, 'ClusterRoleBinding'), ...d.find(objects, 'RoleBinding')]
        .map((b) => `${b.kind}:${b.metadata.namespace || ''}:${b.roleRef.kind}/${b.roleRef.name}->${b.subjects.map((s) => s.name).join(',')}`)
        .sort();
    const expected = ['ClusterRoleBinding::ClusterRole/rel-gpufit->rel-gpufit'];
    if (schedulerOn) {
      expected.push(
          'ClusterRoleBinding::ClusterRole/system:kube-scheduler->rel-gpufit-scheduler',
          'ClusterRoleBinding::ClusterRole/system:volume-scheduler->rel-gpufit-scheduler',
          'RoleBinding:gpufit-system:Role/rel-gpufit-scheduler->rel-gpufit-scheduler',
          'RoleBinding:kube-system:Role/extension-apiserver-authentication-reader->rel-gpufit-scheduler');
      const role = d.one(objects, 'Role');
      assert.deepEqual(role.rules, [
        {apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'get', 'list', 'watch', 'update']},
        {apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch']},
      ]);
    } else {
      assert.equal(d.find(objects, 'Role').length, 0);
    }
    assert.deepEqual(bindings, expected.sort());
  });

  test(`the rendered gpufitd config is accepted by gpufitd (${scenarioName(file)})`, async () => {
    const cm = d.one(objectsFor(file), 'ConfigMap', (o) => o.data && 'gpufitd.yaml' in o.data);
    const values = d.YAML.parse(fs.readFileSync(file, 'utf8')) || {};
    const config = d.YAML.parse(cm.data['gpufitd.yaml']);
    assert.deepEqual((config.workloads || []).map((w) => w.name),
        ((values.config || {}).workloads || []).map((w) => w.name));
    const gpufitd = path.join(process.env.GPUFIT_BIN_DIR || path.join(d.SOURCE_DIR, 'build'), 'gpufitd');
    assert.ok(fs.existsSync(gpufitd), `gpufitd not built at ${gpufitd}: run scripts/build.sh or set GPUFIT_BIN_DIR`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpufit-chartcfg-'));
    try {
      const file2 = path.join(dir, 'gpufitd.yaml');
      fs.writeFileSync(file2, cm.data['gpufitd.yaml']);
      const child = childProcess.spawn(gpufitd, ['--config', file2, '--grpc-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0'],
          {stdio: ['ignore', 'ignore', 'pipe']});
      let err = '';
      child.stderr.on('data', (c) => { err += c; });
      const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
      const deadline = Date.now() + 30000;
      while (!err.includes('"msg":"serving"') && child.exitCode === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGTERM');
      const code = await exited;
      assert.ok(err.includes('"msg":"serving"'), `gpufitd did not serve with the chart's config:\n${err}`);
      assert.match(err, new RegExp(`"workloads":${(config.workloads || []).length}[,}]`));
      assert.equal(code, 0);
    } finally {
      fs.rmSync(dir, {recursive: true, force: true});
    }
  });
}

test('the schema validator is live: it rejects a broken object', async () => {
  const dep = structuredClone(d.one(objectsFor(FULL), 'Deployment', (o) => o.metadata.labels['app.kubernetes.io/component'] === 'server'));
  dep.spec.template.spec.containers[0].ports[0].containerPort = 'fifty';
  dep.spec.replicas = 'two';
  const errors = await d.schemaErrors([dep]);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /containerPort must be integer|replicas must be integer/);
});

test('values.schema.json rejects wrong types, helm template fails', () => {
  for (const [set, message] of [
    ['replicaCount=two', /replicaCount: Invalid type. Expected: integer, given: string/],
    ['grpc.port=true', /grpc.port: Invalid type/],
    ['scheduler.enabled=yes', /scheduler.enabled: Invalid type. Expected: boolean/],
    ['logLevel=verbose', /logLevel must be one of/],
    ['config.prices.l4=-1', /config.prices.l4: Must be greater than 0/],
    ['no_such_value=1', /Additional property no_such_value is not allowed/],
  ]) {
    const r = d.helm(['template', 'rel', d.CHART_DIR, '--set', set], {allowFailure: true});
    assert.notEqual(r.status, 0, `--set ${set} rendered`);
    assert.match(r.stderr, message, `--set ${set}`);
  }
  for (const args of [['--set-string', 'replicaCount=2'], ['--set-json', 'config.workloads="w"']]) {
    const r = d.helm(['template', 'rel', d.CHART_DIR, ...args], {allowFailure: true});
    assert.notEqual(r.status, 0, `${args.join(' ')} rendered`);
  }
});

test('render-time checks: grace period, TLS secret', () => {
  for (const [set, message] of [
    [['terminationGracePeriodSeconds=10'], /terminationGracePeriodSeconds \(10\) must exceed/],
    [['tls.enabled=true'], /tls.enabled needs tls.secretName/],
    [['tls.enabled=true', 'tls.secretName=s', 'probes.mode=grpc'], /kubelet gRPC probes do not speak TLS/],
  ]) {
    const r = d.helm(['template', 'rel', d.CHART_DIR, ...set.flatMap((s) => ['--set', s])], {allowFailure: true});
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, message);
  }
});

test('a config change changes the checksum annotation (pods roll)', () => {
  const checksum = (setJson) => d.one(d.render({setJson}), 'Deployment').spec.template.metadata.annotations['checksum/config'];
  const base = checksum([]);
  assert.equal(checksum([]), base);
  assert.notEqual(checksum(['config.prices={"l4":0.7}']), base);
});

test('the PDB and anti-affinity follow the values', () => {
  assert.equal(d.find(d.render({set: ['replicaCount=1']}), 'PodDisruptionBudget').length, 0);
  const custom = d.one(d.render({set: ['affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=a',
    'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists']}), 'Deployment');
  assert.ok(custom.spec.template.spec.affinity.nodeAffinity);
  assert.equal(custom.spec.template.spec.affinity.podAntiAffinity, undefined);
});

test('second scheduler: KubeSchedulerConfiguration points the extender at the gpufitd Service', () => {
  const objects = objectsFor(FULL);
  const cm = d.one(objects, 'ConfigMap', (o) => o.data && 'scheduler-config.yaml' in o.data);
  const cfg = d.YAML.parse(cm.data['scheduler-config.yaml']);
  assert.equal(cfg.apiVersion, 'kubescheduler.config.k8s.io/v1');
  assert.equal(cfg.kind, 'KubeSchedulerConfiguration');
  assert.deepEqual(cfg.profiles, [{schedulerName: 'gpufit-scheduler'}]);
  assert.equal(cfg.leaderElection.leaderElect, true);
  assert.equal(cfg.leaderElection.resourceNamespace, 'gpufit-system');
  const svc = d.one(objects, 'Service');
  const http = svc.spec.ports.find((p) => p.name === 'http');
  assert.deepEqual(cfg.extenders, [{
    urlPrefix: `http://${svc.metadata.name}.gpufit-system.svc:${http.port}`,
    filterVerb: 'filter', prioritizeVerb: 'prioritize', weight: 10, enableHTTPS: false,
    nodeCacheCapable: true, httpTimeout: '5s', ignorable: false,
    managedResources: ['gpu', 'mig-1g.10gb', 'mig-2g.20gb', 'mig-3g.40gb', 'mig-7g.80gb']
        .map((r) => ({name: `nvidia.com/${r}`, ignoredByScheduler: false})),
  }]);
  // The same extender settings as the standalone deploy/scheduler/kube-scheduler-config.yaml
  // (where it exists), apart from the Service address and the weight ci/full-values.yaml sets.
  const standaloneFile = path.join(d.SOURCE_DIR, 'deploy', 'scheduler', 'kube-scheduler-config.yaml');
  if (fs.existsSync(standaloneFile)) {
    const standalone = d.YAML.parse(fs.readFileSync(standaloneFile, 'utf8')).extenders[0];
    for (const k of ['filterVerb', 'prioritizeVerb', 'nodeCacheCapable', 'managedResources', 'ignorable', 'httpTimeout']) {
      assert.deepEqual(cfg.extenders[0][k], standalone[k], `extender ${k} differs from ${standaloneFile}`);
    }
  }
  const dep = d.one(objects, 'Deployment', (o) => o.metadata.labels['app.kubernetes.io/component'] === 'scheduler');
  assert.equal(dep.spec.template.spec.serviceAccountName, 'rel-gpufit-scheduler');
  assert.match(dep.spec.template.spec.containers[0].image, /^registry\.k8s\.io\/kube-scheduler:v1\.\d+\.\d+$/);
  assert.ok(dep.spec.template.spec.containers[0].command.includes('--config=/etc/kubernetes/gpufit-scheduler/scheduler-config.yaml'));
});

test('HTTPS extender: gpufitd serves the HTTP port with mTLS, kube-scheduler and Prometheus present certificates', () => {
  const objects = objectsFor(TLS);
  const dep = d.one(objects, 'Deployment', (o) => o.metadata.labels['app.kubernetes.io/component'] === 'server');
  const c = dep.spec.template.spec.containers.find((x) => x.name === 'gpufitd');
  const mounted = (file) => c.volumeMounts.some((m) => file.startsWith(`${m.mountPath}/`));
  for (const flag of ['http-tls-cert', 'http-tls-key', 'http-tls-client-ca']) {
    const a = c.args.find((x) => x.startsWith(`--${flag}=`));
    assert.ok(a, `--${flag}`);
    assert.ok(mounted(a.split('=')[1]), `${a} is on a mounted volume`);
  }
  assert.ok(c.args.includes('--health-address=0.0.0.0:8081'));

  const cm = d.one(objects, 'ConfigMap', (o) => o.data && 'scheduler-config.yaml' in o.data);
  const ext = d.YAML.parse(cm.data['scheduler-config.yaml']).extenders[0];
  assert.match(ext.urlPrefix, /^https:\/\/rel-gpufit\.gpufit-system\.svc:8080$/);
  assert.equal(ext.enableHTTPS, true);
  const sched = d.one(objects, 'Deployment', (o) => o.metadata.labels['app.kubernetes.io/component'] === 'scheduler');
  const sc = sched.spec.template.spec.containers[0];
  for (const k of ['caFile', 'certFile', 'keyFile']) {
    assert.ok(ext.tlsConfig[k] && sc.volumeMounts.some((m) => ext.tlsConfig[k].startsWith(`${m.mountPath}/`)),
        `tlsConfig.${k} ${ext.tlsConfig[k]} is on a volume of the scheduler`);
  }
  const vol = sched.spec.template.spec.volumes.find((v) => v.secret);
  assert.equal(vol.secret.secretName, 'gpufit-scheduler-client-tls');
  // The standalone HTTPS example has the same extender settings and TLS files.
  const standalone = d.YAML.parse(fs.readFileSync(
      path.join(d.SOURCE_DIR, 'deploy', 'scheduler', 'kube-scheduler-config-https.yaml'), 'utf8')).extenders[0];
  for (const k of ['filterVerb', 'prioritizeVerb', 'nodeCacheCapable', 'managedResources', 'ignorable',
    'httpTimeout', 'enableHTTPS', 'tlsConfig']) {
    assert.deepEqual(ext[k], standalone[k], `extender ${k} differs from kube-scheduler-config-https.yaml`);
  }
  assert.match(standalone.urlPrefix, /^https:/);

  const sm = d.one(objects, 'ServiceMonitor');
  assert.equal(sm.spec.endpoints[0].scheme, 'https');
  assert.ok(sm.spec.endpoints[0].tlsConfig.cert && sm.spec.endpoints[0].tlsConfig.keySecret);
  const np = d.one(objects, 'NetworkPolicy');
  assert.ok(np.spec.ingress.some((r) => r.ports.some((p) => p.port === 'health')), 'the health port is open');
});

test('HTTPS render-time checks', () => {
  const base = ['http.tls.enabled=true', 'tls.secretName=s'];
  for (const [set, message] of [
    [['http.tls.enabled=true'], /http.tls.enabled needs http.tls.secretName/],
    [['http.tls.clientCA.enabled=true'], /http.tls.clientCA.enabled needs http.tls.enabled/],
    [[...base, 'scheduler.enabled=true'], /scheduler.extender.tls.secretName is needed/],
    [[...base, 'http.tls.clientCA.enabled=true', 'scheduler.enabled=true', 'scheduler.extender.tls.insecure=true'],
      /scheduler.extender.tls.secretName is needed/],
    [[...base, 'serviceMonitor.enabled=true'], /serviceMonitor.tlsConfig is needed/],
    [[...base, 'http.tls.clientCA.enabled=true', 'http.healthPort=8080'], /http.healthPort must differ/],
  ]) {
    const r = d.helm(['template', 'rel', d.CHART_DIR, ...set.flatMap((s) => ['--set', s])], {allowFailure: true});
    assert.notEqual(r.status, 0, set.join(' '));
    assert.match(r.stderr, message);
  }
  // HTTPS without client certificates: the kubelet probes the HTTP port with scheme HTTPS.
  const dep = d.one(d.render({set: [...base, 'tls.enabled=true']}), 'Deployment');
  assert.deepEqual(dep.spec.template.spec.containers[0].readinessProbe.httpGet, {path: '/readyz', port: 'http', scheme: 'HTTPS'});
});

test('KEDA ScaledObject: external trigger on gpufitd\'s gRPC Service', () => {
  const so = d.one(objectsFor(FULL), 'ScaledObject');
  assert.equal(so.spec.triggers[0].type, 'external');
  assert.deepEqual(Object.keys(so.spec.triggers[0].metadata).sort(),
      ['accelerator', 'gpus', 'query', 'scalerAddress', 'serverAddress', 'workload']);
  assert.equal(so.spec.triggers[0].metadata.scalerAddress, 'rel-gpufit.gpufit-system.svc:50051');
  for (const v of Object.values(so.spec.triggers[0].metadata)) assert.equal(typeof v, 'string');
});

test('config.prometheus.servers: in gpufitd\'s config, and the NetworkPolicy lets gpufitd reach them only', () => {
  const objects = objectsFor(FULL);
  const values = d.YAML.parse(fs.readFileSync(FULL, 'utf8'));
  const servers = values.config.prometheus.servers;
  const cm = d.one(objects, 'ConfigMap', (o) => o.data && 'gpufitd.yaml' in o.data);
  assert.deepEqual(d.YAML.parse(cm.data['gpufitd.yaml']).prometheus, {servers});
  // The example trigger names a listed server (gpufitd refuses any other).
  const so = d.one(objects, 'ScaledObject');
  assert.ok(servers.includes(so.spec.triggers[0].metadata.serverAddress));
  const np = d.one(objects, 'NetworkPolicy');
  const rule = np.spec.egress.find((r) => r.ports.some((p) => p.port === 9090));
  assert.ok(rule, 'egress to the Prometheus port');
  assert.deepEqual(rule.ports, [{port: 9090, protocol: 'TCP'}]);
  assert.deepEqual(rule.to, values.networkPolicy.egress.prometheusTo);
  // Default ports by scheme, each once; none without servers.
  const ports = (set) => {
    const p = d.one(d.render({set: ['networkPolicy.enabled=true', ...set]}), 'NetworkPolicy');
    return p.spec.egress.filter((r) => !r.to && !r.ports.some((x) => x.port === 53))
        .flatMap((r) => r.ports.map((x) => x.port));
  };
  assert.deepEqual(ports(['config.prometheus.servers={https://thanos.example/prom,http://a,http://b:80,http://[::1]:9091}']),
      [443, 6443, 443, 80, 9091]);
  assert.deepEqual(ports([]), [443, 6443]);
  const plain = d.YAML.parse(d.one(d.render({}), 'ConfigMap', (o) => o.data && 'gpufitd.yaml' in o.data)
      .data['gpufitd.yaml']);
  assert.equal(plain.prometheus, undefined);
  // user:password@ is refused before gpufitd sees it.
  const r = d.helm(['template', 'rel', d.CHART_DIR, '--set', 'config.prometheus.servers={http://u:p@prom:9090}'],
      {allowFailure: true});
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /config.prometheus.servers.0/);
});

test('helm test Pod checks gRPC health on the Service (TLS-aware)', () => {
  const plain = d.one(objectsFor(FULL), 'Pod');
  assert.equal(plain.metadata.annotations['helm.sh/hook'], 'test');
  assert.ok(plain.spec.containers[0].args.includes('-addr=rel-gpufit.gpufit-system.svc:50051'));
  assert.ok(!plain.spec.containers[0].args.includes('-tls'));
  const tls = d.one(objectsFor(TLS), 'Pod');
  assert.ok(tls.spec.containers[0].args.includes('-tls'));
  assert.ok(tls.spec.containers[0].args.some((a) => a.startsWith('-tls-client-cert=')));
});

test('dashboards and alert rules in the chart are the files in deploy/, byte for byte', () => {
  const objects = objectsFor(FULL);
  const rule = d.one(objects, 'PrometheusRule');
  const rulesFile = path.join(d.SOURCE_DIR, 'deploy', 'prometheus', 'rules.yaml');
  assert.deepEqual(rule.spec, d.YAML.parse(fs.readFileSync(rulesFile, 'utf8')));
  assert.equal(fs.readFileSync(rulesFile, 'utf8'),
      fs.readFileSync(path.join(d.CHART_DIR, 'files', 'prometheus', 'rules.yaml'), 'utf8'));
  const grafanaDir = path.join(d.SOURCE_DIR, 'deploy', 'grafana');
  const jsonFiles = fs.readdirSync(grafanaDir).filter((f) => f.endsWith('.json')).sort();
  assert.deepEqual(jsonFiles, ['gpufit-extender.json', 'gpufit-fleet.json', 'gpufit-service.json']);
  const cms = d.find(objects, 'ConfigMap', (o) => o.metadata.labels.grafana_dashboard === '1');
  assert.equal(cms.length, jsonFiles.length);
  for (const f of jsonFiles) {
    const text = fs.readFileSync(path.join(grafanaDir, f), 'utf8');
    const cm = cms.find((c) => f in c.data);
    assert.ok(cm, `no dashboard ConfigMap has ${f}`);
    assert.equal(cm.data[f], text.replace(/\n$/, ''), `${f} in the chart differs from deploy/grafana/${f}`);
    assert.equal(cm.metadata.annotations.grafana_folder, 'GPU');
  }
  // The sidecar label follows the values.
  const relabelled = d.render({set: ['dashboards.enabled=true', 'dashboards.label=my_dash', 'dashboards.labelValue=yes']});
  assert.equal(d.find(relabelled, 'ConfigMap', (o) => o.metadata.labels.my_dash === 'yes').length, 3);
});

test('the dashboards are what deploy/grafana/generate.js writes', () => {
  d.run(process.execPath, [path.join(d.SOURCE_DIR, 'deploy', 'grafana', 'generate.js'), '--check']);
});

test('the PrometheusRule as rendered passes promtool check rules', () => {
  const rule = d.one(objectsFor(FULL), 'PrometheusRule');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpufit-rule-'));
  try {
    const f = path.join(dir, 'rules.yaml');
    fs.writeFileSync(f, d.YAML.stringify(rule.spec));
    const r = d.run(d.PROMTOOL, ['check', 'rules', f]);
    assert.match(r.stdout, /SUCCESS: 8 rules found/);
    const names = rule.spec.groups.flatMap((g) => g.rules.map((x) => x.alert)).sort();
    assert.deepEqual(names, ['GpufitConfigReloadFailing', 'GpufitDown', 'GpufitExtenderLatencyNearTimeout',
      'GpufitFleetCostJump', 'GpufitHighErrorRatio', 'GpufitKedaQueryFailing',
      'GpufitTlsCertificateExpiringSoon', 'GpufitTlsReloadFailing']);
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
});

test('optional parts are off by default', () => {
  const objects = objectsFor(path.join(d.CHART_DIR, 'ci', 'minimal-values.yaml'));
  assert.deepEqual([...new Set(objects.map((o) => o.kind))].sort(),
      ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Pod', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
});

test('deploy/examples: the values install cleanly, the manifests match the API schemas, gpufitd takes the config', async () => {
  const examples = path.join(d.SOURCE_DIR, 'deploy', 'examples');
  const valuesFile = path.join(examples, 'values-production.yaml');
  d.helm(['lint', '--strict', d.CHART_DIR, '--values', valuesFile]);
  const objects = d.render({valuesFile});
  assert.deepEqual(await d.schemaErrors(objects), []);
  const manifests = ['keda-scaledobject.yaml', 'vllm-deployment.yaml', 'inference-deployment.yaml']
      .flatMap((f) => d.parseManifests(fs.readFileSync(path.join(examples, f), 'utf8')));
  assert.deepEqual(await d.schemaErrors(manifests), []);
  const so = d.one(manifests, 'ScaledObject');
  assert.deepEqual(Object.keys(so.spec.triggers[0].metadata).sort(),
      ['accelerator', 'gpus', 'query', 'scalerAddress', 'serverAddress', 'workload']);
  assert.equal(so.spec.triggers[0].metadata.scalerAddress, 'gpufit.gpufit-system.svc:50051');
  // The example's workload names exist in the example config.
  const config = d.YAML.parse(fs.readFileSync(path.join(examples, 'gpufitd.yaml'), 'utf8'));
  assert.ok(config.workloads.some((w) => w.name === so.spec.triggers[0].metadata.workload));
  const gpufitd = path.join(process.env.GPUFIT_BIN_DIR || path.join(d.SOURCE_DIR, 'build'), 'gpufitd');
  for (const cfg of [path.join(examples, 'gpufitd.yaml')]) {
    const r = childProcess.spawnSync(gpufitd, ['--config', cfg, '--grpc-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0'],
        {encoding: 'utf8', timeout: 3000, killSignal: 'SIGTERM'});
    assert.match(r.stderr, /"msg":"serving".*"workloads":2/, `gpufitd --config ${cfg}:\n${r.stderr}`);
  }
});

test('every value in values.yaml is documented (a comment above it or above its parent)', () => {
  const lines = fs.readFileSync(path.join(d.CHART_DIR, 'values.yaml'), 'utf8').split('\n');
  const stack = [];  // [{indent, documented}]
  const undocumented = [];
  lines.forEach((line, i) => {
    const m = /^( *)([A-Za-z][\w.-]*):/.exec(line);
    if (!m) return;
    const indent = m[1].length;
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    let j = i - 1;
    while (j >= 0 && lines[j].trim() === '') --j;
    const commented = j >= 0 && /^\s*#/.test(lines[j]);
    const parentDocumented = stack.length > 0 && stack[stack.length - 1].documented;
    // A key that opens a block (nothing after the colon) is a section: its children carry the docs.
    const opensSection = /:\s*$/.test(line);
    if (!commented && !parentDocumented && !opensSection) undocumented.push(`values.yaml:${i + 1}: ${line.trim()}`);
    stack.push({indent, documented: commented || parentDocumented});
  });
  assert.deepEqual(undocumented, []);
  // And the schema knows every top-level value.
  const schema = JSON.parse(fs.readFileSync(path.join(d.CHART_DIR, 'values.schema.json'), 'utf8'));
  const values = d.YAML.parse(lines.join('\n'));
  assert.deepEqual(Object.keys(values).filter((k) => !(k in schema.properties)), []);
});

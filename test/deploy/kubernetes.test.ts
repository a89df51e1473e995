import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { gatewayConfig } from '../../services/gateway/config.js';
import { checkDeployment } from '../../services/gateway/deployment.js';
import { parseServiceList } from '../../services/gateway/service-list.js';
import { loadConfig } from '../../services/kit/config.js';
import { SERVICE_NAMES, type ServiceName } from '../../services/kit/service.js';
import { schemaProblems } from './kubernetes-schema.js';
import { allows, type NetworkPolicy, type Party } from './network-policy.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const KUBERNETES = join(REPO, 'deploy/kubernetes');
const OVERLAYS = ['all-in-one', 'split'] as const;

/*
 * The architecture, written out here rather than read from the manifests it checks (docs/architecture.md;
 * docs/security.md, "Service identity between processes"): who calls whom over gRPC, who uses PostgreSQL. Every
 * service uses NATS. Calls between services of one process are in-process and cross no network.
 */
const GRPC_CALLS: Record<ServiceName, ServiceName[]> = {
  ingress: ['governance', 'routing'],
  routing: ['caching'],
  governance: ['routing', 'audit', 'metering', 'caching'],
  caching: [],
  audit: [],
  metering: ['audit'],
};
const DATABASE_USERS: ServiceName[] = ['governance', 'routing', 'caching', 'audit', 'metering'];
/** Secrets the operator makes (docs/deployment.md); the manifests may refer to no others. */
const OPERATOR_SECRETS = [
  'gateway-database-owner',
  'gateway-database-roles',
  'gateway-admin-token',
  'gateway-audit-chain-key',
  'gateway-providers',
  'gateway-nats',
  ...SERVICE_NAMES.flatMap((s) => [`gateway-nats-${s}`, `gateway-tls-${s}`]),
  'nats-server-tls',
  'nats-passwords',
];
const OPERATOR_CONFIGMAPS = ['nats-users'];

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: any;
  data?: Record<string, string>;
};

/** `kubectl kustomize`, as an operator runs it: offline, with no cluster configured. */
function render(dir: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', join(KUBERNETES, dir)], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' } });
  return parseAllDocuments(out).map((doc) => {
    if (doc.errors.length > 0) throw doc.errors[0];
    return doc.toJS() as K8sObject;
  });
}
const rendered: Record<string, K8sObject[]> = { ...Object.fromEntries(OVERLAYS.map((o) => [o, render(`overlays/${o}`)])), migrate: render('migrate') };
const migrate = rendered.migrate!;
const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
const workloads = (objects: K8sObject[]) => objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind));
const gatewayWorkloads = (objects: K8sObject[]) => workloads(objects).filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'gateway');
const podName = (w: K8sObject): string => w.spec.template.metadata.labels['app.kubernetes.io/name'];
const servicesOf = (w: K8sObject): ServiceName[] => parseServiceList(w.spec.template.spec.containers[0].args[2]);

/** The image's own settings (deploy/Dockerfile's ENV lines), under every container's. */
const IMAGE_ENV = Object.fromEntries(
  [...readFileSync(join(REPO, 'deploy/Dockerfile'), 'utf8').matchAll(/(GATEWAY_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]),
);

/** A container's configuration as the gateway would load it: the mounted file, the image's env, then the container's. */
function configOf(objects: K8sObject[], container: any) {
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('gateway-config'));
  const mounted = container.volumeMounts?.some((m: any) => m.mountPath === '/app/gateway.yaml');
  const dir = mkdtempSync(join(tmpdir(), 'gw-k8s-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, mounted ? configMap!.data!['gateway.yaml']! : '');
  const env: Record<string, string> = { ...IMAGE_ENV };
  // A Secret's value is unknown here: any strong value stands for it.
  for (const e of container.env ?? []) env[e.name] = e.value ?? 'f'.repeat(64);
  return loadConfig(gatewayConfig, { file, env });
}

describe('deploy/kubernetes', () => {
  it.each([...OVERLAYS, 'migrate'])('%s: every object is of a known kind and conforms to its schema', (dir) => {
    expect(rendered[dir]!.flatMap(schemaProblems)).toEqual([]);
  });

  it('the schema check refuses a misspelt field, a wrong type and a missing required field', () => {
    const deployment = structuredClone(gatewayWorkloads(rendered.split!).find((w) => w.kind === 'Deployment')!);
    deployment.spec.template.spec.containers[0].readinesProbe = {};
    deployment.spec.replicas = '2';
    delete deployment.spec.selector;
    const problems = schemaProblems(deployment).join('\n');
    expect(problems).toContain('readinesProbe');
    expect(problems).toContain('/spec/replicas must be integer');
    expect(problems).toContain("must have required property 'selector'");
    expect(problems).toMatch(/Kubernetes' schema: .*replicas must be integer/);
  });

  it.each(OVERLAYS)('%s: references resolve: selectors, volumes, ports, ConfigMaps, Secrets, scale targets', (overlay) => {
    const objects = rendered[overlay]!;
    const names = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);
    const docs = readFileSync(join(REPO, 'docs/deployment.md'), 'utf8');
    for (const w of workloads([...objects, ...migrate])) {
      const { spec } = w.spec.template;
      expect(w.spec.template.metadata.labels, id(w)).toMatchObject(w.spec.selector?.matchLabels ?? {});
      const volumes = new Set([...(spec.volumes ?? []).map((v: any) => v.name), ...(w.spec.volumeClaimTemplates ?? []).map((c: any) => c.metadata.name)]);
      for (const c of spec.containers) {
        for (const m of c.volumeMounts ?? []) expect(volumes.has(m.name), `${id(w)} mounts ${m.name}`).toBe(true);
        const ports = new Set((c.ports ?? []).map((p: any) => p.name));
        for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe].filter(Boolean)) expect(ports.has(probe.httpGet.port), id(w)).toBe(true);
        const secrets = [...(c.env ?? []).map((e: any) => e.valueFrom?.secretKeyRef?.name), ...(c.envFrom ?? []).map((e: any) => e.secretRef?.name)];
        for (const s of secrets.filter(Boolean)) expect(OPERATOR_SECRETS, id(w)).toContain(s);
      }
      for (const v of spec.volumes ?? []) {
        for (const s of [v.secret?.secretName].filter(Boolean)) expect(OPERATOR_SECRETS, `${id(w)} volume ${v.name}`).toContain(s);
        for (const cm of [v.configMap?.name, ...(v.projected?.sources ?? []).map((s: any) => s.configMap?.name)].filter(Boolean)) {
          expect([...names('ConfigMap'), ...OPERATOR_CONFIGMAPS], `${id(w)} volume ${v.name}`).toContain(cm);
        }
      }
    }
    // Each Secret and ConfigMap the operator makes is described where the operator reads how to make it.
    const perService = new RegExp(`-(${SERVICE_NAMES.join('|')})$`);
    for (const name of [...OPERATOR_SECRETS, ...OPERATOR_CONFIGMAPS]) expect(docs, name).toContain(`\`${name.replace(perService, '-<service>')}\``);
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      const targets = workloads(objects).filter((w) => Object.entries(svc.spec.selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v));
      expect(targets.length, id(svc)).toBe(1);
      const ports = targets[0]!.spec.template.spec.containers.flatMap((c: any) => c.ports.map((p: any) => p.name));
      for (const p of svc.spec.ports) expect(ports, id(svc)).toContain(p.targetPort);
    }
    for (const o of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler'))
      expect(names(o.spec.scaleTargetRef.kind), id(o)).toContain(o.spec.scaleTargetRef.name);
    for (const o of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
      expect(
        workloads(objects).filter((w) => w.spec.template.metadata.labels['app.kubernetes.io/name'] === o.spec.selector.matchLabels['app.kubernetes.io/name']),
      ).toHaveLength(1);
    }
  });

  it.each(OVERLAYS)('%s: each gateway pod loads its configuration and may run its services as deployed', (overlay) => {
    const objects = rendered[overlay]!;
    const all = gatewayWorkloads(objects);
    expect(all.flatMap(servicesOf).sort()).toEqual([...SERVICE_NAMES].sort());
    for (const w of all) {
      const [container] = w.spec.template.spec.containers;
      const services = servicesOf(w);
      const config = configOf(objects, container);
      expect(() => checkDeployment(config, services), id(w)).not.toThrow();
      expect(config.database.migrate, id(w)).toBe(false);
      expect(new URL(config.database.url).username + new URL(config.database.url).password, `${id(w)}: database.url holds no credentials`).toBe('');
      // Probes are on the port the process serves them on.
      expect(container.ports.find((p: any) => p.name === 'ops').containerPort).toBe(config.server.opsPort);
      // SIGKILL comes after the preStop pause and the whole graceful shutdown.
      const pause = Number(container.lifecycle.preStop.exec.command[1]);
      expect(w.spec.template.spec.terminationGracePeriodSeconds * 1000, id(w)).toBeGreaterThan(pause * 1000 + config.server.shutdownTimeoutMs);
      // Each remote callee is addressed at the Service in front of the pods that run it, on their gRPC port.
      const remote = [...new Set(services.flatMap((s) => GRPC_CALLS[s]))].filter((callee) => !services.includes(callee));
      for (const callee of remote) {
        const calleeWorkload = all.find((x) => servicesOf(x).includes(callee))!;
        const service = objects.find((o) => o.kind === 'Service' && o.spec.selector['app.kubernetes.io/name'] === podName(calleeWorkload))!;
        expect(config[callee as Exclude<ServiceName, 'ingress'>].address, `${id(w)} → ${callee}`).toBe(`${service.metadata.name}:${config.server.grpcPort}`);
        expect(service.spec.ports.map((p: any) => p.port)).toContain(config.server.grpcPort);
      }
      // A pod is handed the passwords of its own roles only.
      const roles = (container.env ?? [])
        .filter((e: any) => e.name.startsWith('GATEWAY_DATABASE__PASSWORDS__'))
        .map((e: any) => e.name.replace('GATEWAY_DATABASE__PASSWORDS__', ''));
      const ownRoles = services
        .filter((s) => DATABASE_USERS.includes(s))
        .flatMap((s) => (s === 'audit' ? ['AUDIT_WRITER', 'AUDIT_MAINTAINER'] : [s.toUpperCase()]));
      expect(roles.sort(), id(w)).toEqual(ownRoles.sort());
    }
  });

  it.each(OVERLAYS)("%s: ingress's event spool is on a volume of each replica's own that outlives the pod", (overlay) => {
    const w = gatewayWorkloads(rendered[overlay]!).find((x) => servicesOf(x).includes('ingress'))!;
    const config = configOf(rendered[overlay]!, w.spec.template.spec.containers[0]);
    expect(w.kind).toBe('StatefulSet');
    expect(config.events.spool.dir).toBe(''); // so it lies under dataDir: <dataDir>/spool/<services>-<opsPort>
    const mount = w.spec.template.spec.containers[0].volumeMounts.find((m: any) => m.mountPath === '/app/data');
    expect(new URL(config.dataDir, 'file:///app/').pathname).toBe('/app/data');
    expect(w.spec.volumeClaimTemplates.map((c: any) => c.metadata.name)).toContain(mount.name);
    expect(w.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenScaled: 'Retain', whenDeleted: 'Retain' });
  });

  it.each(OVERLAYS)('%s: autoscalers for the request path, a disruption budget for every workload', (overlay) => {
    const objects = rendered[overlay]!;
    const scaled = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler').map((o) => o.spec.scaleTargetRef.name);
    const requestPath = gatewayWorkloads(objects).filter((w) => servicesOf(w).some((s) => s === 'ingress' || s === 'routing'));
    expect(scaled.sort()).toEqual(requestPath.map((w) => w.metadata.name).sort());
    const budgets = objects.filter((o) => o.kind === 'PodDisruptionBudget').map((o) => o.spec.selector.matchLabels['app.kubernetes.io/name']);
    expect(budgets.sort()).toEqual(
      workloads(objects)
        .filter((w) => w.kind !== 'Job')
        .map(podName)
        .sort(),
    );
    for (const w of gatewayWorkloads(objects)) expect(w.spec.template.spec.containers[0].resources.requests, id(w)).toHaveProperty('cpu');
  });

  it('NATS runs as a three-node JetStream cluster that fsyncs every write, and the stream has three replicas', () => {
    const objects = rendered.split!;
    const nats = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'nats')!;
    const conf = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('nats-config'))!.data!['nats.conf']!;
    expect(nats.spec.replicas).toBe(3);
    expect(conf).toMatch(/jetstream \{[^}]*sync_interval: always/);
    expect([...conf.matchAll(/nats:\/\/(nats-\d)\.nats-cluster:6222/g)].map((m) => m[1])).toEqual(['nats-0', 'nats-1', 'nats-2']);
    expect(configOf(objects, gatewayWorkloads(objects)[0]!.spec.template.spec.containers[0]).nats.replicas).toBe(3);
  });

  it('the migrate Job is the only object that refers to the database owner, and it migrates as the owner', () => {
    const holders = Object.values(rendered)
      .flat()
      .filter((o) => JSON.stringify(o).includes('gateway-database-owner'));
    expect(holders.map(id)).toEqual(['Job/gateway-migrate']);
    const config = configOf(migrate, migrate.find((o) => o.kind === 'Job')!.spec.template.spec.containers[0]);
    expect(config.database.url).not.toBe('');
    expect(Object.values(config.database.passwords).every((p) => p.startsWith('file:'))).toBe(true);
  });

  it.each(OVERLAYS)('%s: the network policies allow exactly the edges of the architecture', (overlay) => {
    const objects = [...rendered[overlay]!, ...migrate];
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as unknown as NetworkPolicy[];
    const ns = (name: string) => ({ namespace: name, namespaceLabels: { 'kubernetes.io/metadata.name': name } });
    const ours: Party[] = workloads(objects).map((w, i) => {
      const ports = w.spec.template.spec.containers.flatMap((c: any) => c.ports ?? []);
      return {
        name: podName(w),
        labels: w.spec.template.metadata.labels,
        ...ns(w.metadata.namespace),
        ip: `10.244.0.${i + 1}`,
        namedPorts: Object.fromEntries(ports.map((p: any) => [p.name, String(p.containerPort)])),
      };
    });
    const outside: Party[] = [
      { name: 'postgresql', labels: { 'app.kubernetes.io/name': 'postgresql' }, ...ns('ai-gateway'), ip: '10.244.1.1' },
      { name: 'kube-dns', labels: { 'k8s-app': 'kube-dns' }, ...ns('kube-system'), ip: '10.244.1.2' },
      { name: 'admin-client', labels: { 'ai-gateway/admin-client': 'true' }, ...ns('ai-gateway'), ip: '10.244.1.3' },
      { name: 'prometheus', labels: { 'app.kubernetes.io/name': 'prometheus' }, ...ns('monitoring'), ip: '10.244.1.4' },
      { name: 'other-pod', labels: { app: 'other' }, ...ns('other'), ip: '10.244.1.5' },
      { name: 'internet', ...ns(''), ip: '203.0.113.9' },
    ];
    const parties = [...ours, ...outside];
    const policyPorts = policies.flatMap((p) =>
      [...(p.spec.ingress ?? []), ...(p.spec.egress ?? [])].flatMap((r) => (r.ports ?? []).map((x) => `${x.protocol ?? 'TCP'}/${x.port}`)),
    );
    const containerPorts = ours.flatMap((p) => Object.values(p.namedPorts!).map((n) => `TCP/${n}`));
    const ports = [...new Set([...policyPorts, ...containerPorts, 'TCP/5432', 'TCP/80', 'TCP/22'])];
    // Between two parties outside the manifests, these policies decide nothing.
    const pairs = parties.flatMap((from) => parties.filter((to) => ours.includes(from) || ours.includes(to)).map((to) => [from, to] as const));
    const actual = pairs.flatMap(([from, to]) => ports.filter((port) => allows(policies, from, to, port)).map((port) => `${from.name} → ${to.name} ${port}`));

    const workloadOf = (s: ServiceName) => podName(gatewayWorkloads(objects).find((w) => servicesOf(w).includes(s))!);
    const gateway = [...new Set(SERVICE_NAMES.map(workloadOf))];
    const edges = (from: string[], to: string[], port: string) => from.flatMap((f) => to.filter((t) => t !== f).map((t) => `${f} → ${t} ${port}`));
    const expected = [
      ...SERVICE_NAMES.flatMap((s) => edges([workloadOf(s)], GRPC_CALLS[s].map(workloadOf), 'TCP/50051')),
      ...edges(gateway, ['nats'], 'TCP/4222'),
      ...edges([...new Set(DATABASE_USERS.map(workloadOf)), 'migrate'], ['postgresql'], 'TCP/5432'),
      ...edges([workloadOf('routing')], ['internet'], 'TCP/443'),
      ...edges(
        outside.map((p) => p.name),
        [workloadOf('ingress')],
        'TCP/8080',
      ),
      ...edges(['admin-client'], [workloadOf('governance')], 'TCP/8081'),
      ...edges(['prometheus'], gateway, 'TCP/9090'),
      ...edges([...gateway, 'nats', 'migrate'], ['kube-dns'], 'UDP/53'),
      ...edges([...gateway, 'nats', 'migrate'], ['kube-dns'], 'TCP/53'),
      'nats → nats TCP/6222',
    ];
    expect([...new Set(actual)].sort()).toEqual([...new Set(expected)].sort());
  });
});

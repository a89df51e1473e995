import { Ajv, type ValidateFunction } from 'ajv';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';

/**
 * Two checks of each Kubernetes object deploy/kubernetes renders. First, Kubernetes' own OpenAPI schemas, compiled by
 * the `kubernetes-models` package: types, required fields and enumerations as the API server defines them. Those
 * schemas accept any unknown field (the API server drops it silently), so, second, strict schemas transcribed from the
 * API reference for the kinds and fields the manifests use: a misspelt `readinesProbe` is caught, and a field the
 * manifests newly use must be added here. See docs/deployment.md, "Validation".
 */

/** Each model takes its own kind; `any` since the object is checked at run time by validate(). */
const API_MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1 ConfigMap': ConfigMap,
  'v1 Service': Service,
  'apps/v1 Deployment': Deployment,
  'apps/v1 StatefulSet': StatefulSet,
  'batch/v1 Job': Job,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
};

type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const bool: Schema = { type: 'boolean' };
const list = (items: Schema): Schema => ({ type: 'array', items });
const strings = list(str);
const oneOfValues = (...values: string[]): Schema => ({ type: 'string', enum: values });
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({ type: 'object', properties, required, additionalProperties: false });
const mapOf = (values: Schema): Schema => ({ type: 'object', additionalProperties: values });
const intOrString: Schema = { type: ['integer', 'string'] };
/** resource.Quantity: "500m", "1Gi", "2", or a plain number in YAML. */
const quantity: Schema = { anyOf: [{ type: 'number' }, { type: 'string', pattern: '^[+-]?[0-9.]+([eE][+-]?[0-9]+|[munkKMGTPE]i?)?$' }] };
/** DNS-1123 subdomain: names of most objects, ConfigMaps, Secrets. */
const subdomain: Schema = { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' };
/** DNS-1123 label: container and volume names, and (DNS-1035, starting with a letter) Service names. */
const label: Schema = { type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
const serviceName: Schema = { type: 'string', maxLength: 63, pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$' };
/** IANA_SVC_NAME: a named port, at most 15 characters with a letter in them. */
const portName: Schema = { type: 'string', maxLength: 15, pattern: '^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
const port: Schema = { type: 'integer', minimum: 1, maximum: 65535 };
const protocol = oneOfValues('TCP', 'UDP', 'SCTP');
const labelValue: Schema = { type: 'string', maxLength: 63, pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$' };
const labels = mapOf(labelValue);

const metadata = (name: Schema): Schema => obj({ name, namespace: label, labels, annotations: mapOf(str) }, ['name']);
const labelSelector = obj({
  matchLabels: labels,
  matchExpressions: list(obj({ key: str, operator: oneOfValues('In', 'NotIn', 'Exists', 'DoesNotExist'), values: strings }, ['key', 'operator'])),
});
const keyToPath = obj({ key: str, path: str, mode: int }, ['key', 'path']);
const httpGet = obj({ path: str, port: intOrString, host: str, scheme: oneOfValues('HTTP', 'HTTPS') }, ['port']);
const exec = obj({ command: strings });
const probe = obj({
  httpGet,
  exec,
  tcpSocket: obj({ port: intOrString, host: str }, ['port']),
  initialDelaySeconds: int,
  periodSeconds: int,
  timeoutSeconds: int,
  successThreshold: int,
  failureThreshold: int,
  terminationGracePeriodSeconds: int,
});
const resources = obj({ requests: mapOf(quantity), limits: mapOf(quantity) });

const container = obj(
  {
    name: label,
    image: str,
    imagePullPolicy: oneOfValues('Always', 'IfNotPresent', 'Never'),
    command: strings,
    args: strings,
    env: list(
      obj(
        {
          name: str,
          value: str,
          valueFrom: obj({
            secretKeyRef: obj({ name: subdomain, key: str, optional: bool }, ['key']),
            configMapKeyRef: obj({ name: subdomain, key: str, optional: bool }, ['key']),
            fieldRef: obj({ apiVersion: str, fieldPath: str }, ['fieldPath']),
          }),
        },
        ['name'],
      ),
    ),
    envFrom: list(obj({ prefix: str, secretRef: obj({ name: subdomain, optional: bool }), configMapRef: obj({ name: subdomain, optional: bool }) })),
    ports: list(obj({ name: portName, containerPort: port, protocol }, ['containerPort'])),
    resources,
    startupProbe: probe,
    livenessProbe: probe,
    readinessProbe: probe,
    lifecycle: obj({ preStop: obj({ exec, httpGet, sleep: obj({ seconds: int }, ['seconds']) }), postStart: obj({ exec, httpGet }) }),
    securityContext: obj({
      allowPrivilegeEscalation: bool,
      readOnlyRootFilesystem: bool,
      runAsNonRoot: bool,
      runAsUser: int,
      runAsGroup: int,
      capabilities: obj({ add: strings, drop: strings }),
    }),
    volumeMounts: list(obj({ name: str, mountPath: str, subPath: str, readOnly: bool }, ['name', 'mountPath'])),
  },
  ['name'],
);

const volume = obj(
  {
    name: label,
    configMap: obj({ name: subdomain, items: list(keyToPath), defaultMode: int, optional: bool }),
    secret: obj({ secretName: subdomain, items: list(keyToPath), defaultMode: int, optional: bool }),
    emptyDir: obj({ medium: str, sizeLimit: quantity }),
    persistentVolumeClaim: obj({ claimName: str, readOnly: bool }, ['claimName']),
    projected: obj({
      defaultMode: int,
      sources: list(
        obj({
          configMap: obj({ name: subdomain, items: list(keyToPath), optional: bool }),
          secret: obj({ name: subdomain, items: list(keyToPath), optional: bool }),
        }),
      ),
    }),
  },
  ['name'],
);

const podAffinityTerm = obj({ labelSelector, topologyKey: str, namespaces: strings }, ['topologyKey']);
const podSpec = obj(
  {
    containers: { ...list(container), minItems: 1 },
    initContainers: list(container),
    volumes: list(volume),
    restartPolicy: oneOfValues('Always', 'OnFailure', 'Never'),
    terminationGracePeriodSeconds: int,
    automountServiceAccountToken: bool,
    serviceAccountName: str,
    securityContext: obj({
      runAsNonRoot: bool,
      runAsUser: int,
      runAsGroup: int,
      fsGroup: int,
      seccompProfile: obj({ type: oneOfValues('RuntimeDefault', 'Localhost', 'Unconfined'), localhostProfile: str }, ['type']),
    }),
    affinity: obj({
      podAntiAffinity: obj({
        requiredDuringSchedulingIgnoredDuringExecution: list(podAffinityTerm),
        preferredDuringSchedulingIgnoredDuringExecution: list(
          obj({ weight: { type: 'integer', minimum: 1, maximum: 100 }, podAffinityTerm }, ['weight', 'podAffinityTerm']),
        ),
      }),
    }),
  },
  ['containers'],
);
const podTemplate = obj({ metadata: obj({ labels, annotations: mapOf(str) }), spec: podSpec });
const claimTemplate = obj({
  metadata: obj({ name: label, labels }, ['name']),
  spec: obj({
    accessModes: list(oneOfValues('ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod')),
    storageClassName: str,
    resources: obj({ requests: mapOf(quantity), limits: mapOf(quantity) }),
  }),
});
const retention = oneOfValues('Retain', 'Delete');

const peer = obj({ podSelector: labelSelector, namespaceSelector: labelSelector, ipBlock: obj({ cidr: str, except: strings }, ['cidr']) });
const policyPort = obj({ protocol, port: intOrString, endPort: int });

const object = (kindSpec: Schema, name: Schema = subdomain): Schema =>
  obj({ apiVersion: str, kind: str, metadata: metadata(name), spec: kindSpec }, ['apiVersion', 'kind', 'metadata', 'spec']);

/** The schema of each `apiVersion kind` the manifests may contain; any other kind fails. */
const KINDS: Record<string, Schema> = {
  'v1 ConfigMap': obj({ apiVersion: str, kind: str, metadata: metadata(subdomain), data: mapOf(str), binaryData: mapOf(str), immutable: bool }, [
    'apiVersion',
    'kind',
    'metadata',
  ]),
  'v1 Service': object(
    obj({
      type: oneOfValues('ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'),
      selector: labels,
      clusterIP: str,
      publishNotReadyAddresses: bool,
      ports: list(obj({ name: portName, port, targetPort: intOrString, protocol, appProtocol: str }, ['port'])),
    }),
    serviceName,
  ),
  'apps/v1 Deployment': object(
    obj(
      {
        replicas: int,
        selector: labelSelector,
        template: podTemplate,
        minReadySeconds: int,
        revisionHistoryLimit: int,
        strategy: obj({ type: oneOfValues('RollingUpdate', 'Recreate'), rollingUpdate: obj({ maxSurge: intOrString, maxUnavailable: intOrString }) }),
      },
      ['selector', 'template'],
    ),
  ),
  'apps/v1 StatefulSet': object(
    obj(
      {
        replicas: int,
        selector: labelSelector,
        template: podTemplate,
        serviceName: str,
        podManagementPolicy: oneOfValues('OrderedReady', 'Parallel'),
        updateStrategy: obj({ type: oneOfValues('RollingUpdate', 'OnDelete'), rollingUpdate: obj({ partition: int, maxUnavailable: intOrString }) }),
        persistentVolumeClaimRetentionPolicy: obj({ whenDeleted: retention, whenScaled: retention }),
        volumeClaimTemplates: list(claimTemplate),
        minReadySeconds: int,
      },
      ['selector', 'template'],
    ),
  ),
  'batch/v1 Job': object(obj({ template: podTemplate, backoffLimit: int, activeDeadlineSeconds: int, ttlSecondsAfterFinished: int }, ['template'])),
  'autoscaling/v2 HorizontalPodAutoscaler': object(
    obj(
      {
        scaleTargetRef: obj({ apiVersion: str, kind: str, name: str }, ['kind', 'name']),
        minReplicas: { type: 'integer', minimum: 1 },
        maxReplicas: { type: 'integer', minimum: 1 },
        metrics: list(
          obj(
            {
              type: oneOfValues('Resource', 'Pods', 'Object', 'External', 'ContainerResource'),
              resource: obj(
                {
                  name: str,
                  target: obj({ type: oneOfValues('Utilization', 'Value', 'AverageValue'), averageUtilization: int, averageValue: quantity, value: quantity }, [
                    'type',
                  ]),
                },
                ['name', 'target'],
              ),
            },
            ['type'],
          ),
        ),
      },
      ['scaleTargetRef', 'maxReplicas'],
    ),
  ),
  'policy/v1 PodDisruptionBudget': object(
    obj({
      minAvailable: intOrString,
      maxUnavailable: intOrString,
      selector: labelSelector,
      unhealthyPodEvictionPolicy: oneOfValues('IfHealthyBudget', 'AlwaysAllow'),
    }),
  ),
  'networking.k8s.io/v1 NetworkPolicy': object(
    obj(
      {
        podSelector: labelSelector,
        policyTypes: list(oneOfValues('Ingress', 'Egress')),
        ingress: list(obj({ from: list(peer), ports: list(policyPort) })),
        egress: list(obj({ to: list(peer), ports: list(policyPort) })),
      },
      ['podSelector'],
    ),
  ),
};

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validators = new Map<string, ValidateFunction>(Object.entries(KINDS).map(([kind, schema]) => [kind, ajv.compile(schema)]));

/** Problems of one object, each naming the object and the field; none when it conforms to both checks. */
export function schemaProblems(object: { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } }): string[] {
  const kind = `${String(object.apiVersion)} ${String(object.kind)}`;
  const name = `${kind} ${String(object.metadata?.name)}`;
  const validate = validators.get(kind);
  const Model = API_MODELS[kind];
  if (!validate || !Model) return [`${name}: a kind this check does not know (known: ${[...validators.keys()].join(', ')})`];
  const problems = validate(object)
    ? []
    : (validate.errors ?? []).map(
        (e) => `${name}: ${e.instancePath || '/'} ${e.message}${e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : ''}`,
      );
  try {
    new Model(object).validate();
  } catch (error) {
    problems.push(`${name}: Kubernetes' schema: ${(error as Error).message}`);
  }
  return problems;
}

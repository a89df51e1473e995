import type { Strategy } from '../config.js';
import type { Deployment, Member } from './deployment.js';

/**
 * Orders a group's deployments for one request, best first. The rest of the
 * order is where retries and in-group failover go next.
 */
export function orderDeployments(members: readonly Member[], strategy: Strategy, random: () => number = Math.random): Deployment[] {
  const deployments = members.map((m) => m.deployment);
  if (members.length <= 1) return deployments;
  switch (strategy) {
    case 'weighted':
      return weightedOrder(members, random);
    case 'least-in-flight':
      return sortBy(deployments, (d) => d.inFlight, random);
    case 'lowest-latency':
      // Unmeasured deployments go first, so every deployment gets measured.
      return sortBy(deployments, (d) => d.latencyMs ?? -1, random);
    case 'lowest-cost':
      return sortBy(deployments, (d) => d.costPerMillion ?? Number.POSITIVE_INFINITY, random);
  }
}

/** Weighted random sampling without replacement. */
function weightedOrder(members: readonly Member[], random: () => number): Deployment[] {
  const pool = [...members];
  const order: Deployment[] = [];
  while (pool.length > 0) {
    const total = pool.reduce((sum, d) => sum + d.weight, 0);
    let pick = random() * total;
    let index = 0;
    while (index < pool.length - 1 && pick >= pool[index]!.weight) {
      pick -= pool[index]!.weight;
      index++;
    }
    order.push(pool.splice(index, 1)[0]!.deployment);
  }
  return order;
}

/** Ascending by score; ties broken at random so equal deployments share the load. */
function sortBy(deployments: readonly Deployment[], score: (d: Deployment) => number, random: () => number): Deployment[] {
  return deployments
    .map((d) => ({ d, score: score(d), tie: random() }))
    .sort((a, b) => a.score - b.score || a.tie - b.tie)
    .map(({ d }) => d);
}

/**
 * The order with deployments that have room before those at their maxInFlight
 * (each part in strategy order): a call waits in a queue only when every
 * deployment of the group is full.
 */
export function roomFirst(order: Deployment[]): Deployment[] {
  if (order.every((d) => d.slots.hasRoom)) return order;
  return [...order.filter((d) => d.slots.hasRoom), ...order.filter((d) => !d.slots.hasRoom)];
}

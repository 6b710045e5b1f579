// What the deploy jobs need from the outside world, behind one small interface: the engine of a type, the
// hosts of a spec, the controller's address, the connectivity probe and the endpoint. The real implementation
// uses engines/, proxies/ and SSH; `fakeDeployDeps` (controller config testFakeDeploy, tests only) answers
// without touching any host so the API and CLI can be tested without a lab.
import type { ClusterSpec, ClusterType, NodeSpec } from '../../core/spec.ts';
import type { Engine, EngineContext, HostAccess, Topology } from '../../engines/engine.ts';
import { engineFor } from '../../engines/registry.ts';
import { deployEndpoint, updateEndpoint } from '../../proxies/index.ts';
import { tcpProbe, type ProbeHost } from '../probe.ts';
import type { ClusterHosts } from '../cluster-hosts.ts';

/** What an endpoint deploy/update left behind, in a few JSON fields for the inventory. */
export interface EndpointSummary {
  readonly writer: string | null;
  readonly reason: string;
  readonly vipHolder: string | null;
  readonly proxies: readonly { host: string; action: string }[];
}

export interface DeployDeps {
  engineFor(type: ClusterType): Engine;
  hosts(spec: ClusterSpec): HostAccess;
  controllerAddress(spec: ClusterSpec, signal: AbortSignal): Promise<string>;
  readonly probeHost: ProbeHost;
  deployEndpoint(ctx: EngineContext, topology: Topology): Promise<EndpointSummary>;
  updateEndpoint(ctx: EngineContext, topology: Topology): Promise<EndpointSummary>;
  forget(cluster: string): void;
  close(): Promise<void>;
}

function summary(r: Awaited<ReturnType<typeof deployEndpoint>>): EndpointSummary {
  return {
    writer: r.view.writer ?? null,
    reason: r.view.reason,
    vipHolder: r.vipHolder ?? null,
    proxies: r.proxies.map((p) => ({ host: p.host, action: p.action })),
  };
}

export function realDeployDeps(pool: ClusterHosts, probeHost?: ProbeHost): DeployDeps {
  return {
    engineFor,
    hosts: (spec) => pool.access(spec),
    controllerAddress: (spec, signal) => pool.controllerAddress(spec, signal),
    probeHost: probeHost ?? pool.probe,
    deployEndpoint: async (ctx, topology) => summary(await deployEndpoint(ctx, topology)),
    updateEndpoint: async (ctx, topology) => summary(await updateEndpoint(ctx, topology)),
    forget: (cluster) => pool.forget(cluster),
    close: () => pool.close(),
  };
}

/** A topology as the spec hints it: the role-hinted (else first) node primary, the others replicas. */
function hintedTopology(spec: ClusterSpec, nodes: readonly NodeSpec[] = spec.nodes): Topology {
  const primary = nodes.find((n) => n.role === 'primary') ?? nodes[0];
  const multi = spec.type === 'galera';
  return {
    type: spec.type,
    nodes: nodes.map((n) => ({
      host: n.host,
      port: n.port,
      role: multi ? 'member' : n === primary ? 'primary' : 'replica',
      state: multi ? 'Synced' : 'fake',
    })),
  };
}

function fakeEngine(type: ClusterType): Engine {
  return {
    type,
    capabilities: {
      multiWriter: type === 'galera',
      synchronousReplication: true,
      singlePrimary: type !== 'galera',
    },
    renderNodeConfig: () => [],
    async deploy(ctx) {
      await ctx.step('fake deploy', () => {
        ctx.log(`fake deploy of ${ctx.spec.nodes.length} nodes (controller testFakeDeploy)`);
        return Promise.resolve();
      });
      return hintedTopology(ctx.spec);
    },
    discover: (ctx) => Promise.resolve(hintedTopology(ctx.spec)),
    addNode: (ctx) => Promise.resolve(hintedTopology(ctx.spec)),
    openProbe: () => {
      throw new Error('fake engine: no probe');
    },
    openQueryInsight: () => {
      throw new Error('fake engine: no query insight');
    },
    removeNode: (ctx, node) =>
      Promise.resolve(
        hintedTopology(
          ctx.spec,
          ctx.spec.nodes.filter((n) => n !== node),
        ),
      ),
  };
}

const noEndpoint = (ctx: EngineContext): Promise<EndpointSummary> => {
  ctx.log('fake endpoint (controller testFakeDeploy)');
  return Promise.resolve({ writer: null, reason: 'fake', vipHolder: null, proxies: [] });
};

/** Test double: no host is touched; the connectivity probe is a TCP connect unless one is given. */
export function fakeDeployDeps(probeHost?: ProbeHost): DeployDeps {
  return {
    engineFor: fakeEngine,
    hosts: () => ({
      executor: (host) => {
        throw new Error(`fake deploy: no executor for ${host}`);
      },
    }),
    controllerAddress: () => Promise.resolve('127.0.0.1'),
    probeHost: probeHost ?? tcpProbe,
    deployEndpoint: noEndpoint,
    updateEndpoint: noEndpoint,
    forget: () => undefined,
    close: () => Promise.resolve(),
  };
}

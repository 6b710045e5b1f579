// A test double of the deploy jobs' outside world: a fake engine and endpoint that touch no host (the topology
// is the one the spec hints), and a TCP connect as the connectivity probe unless one is given. It lives under
// test/ so no production start can switch it on; tests pass it as ControllerOptions.deploy.
import type { ClusterSpec, ClusterType, NodeSpec } from '../../src/core/spec.ts';
import type { DeployDeps, EndpointSummary } from '../../src/controller/deploy/deps.ts';
import { tcpProbe, type ProbeHost } from '../../src/controller/probe.ts';
import type { Engine, EngineContext, Topology } from '../../src/engines/engine.ts';

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
        ctx.log(`fake deploy of ${ctx.spec.nodes.length} nodes (test double)`);
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
  ctx.log('fake endpoint (test double)');
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

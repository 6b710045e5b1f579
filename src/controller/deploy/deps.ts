// What the deploy jobs need from the outside world, behind one small interface: the engine of a type, the
// hosts of a spec, the controller's address, the connectivity probe and the endpoint. The real implementation
// uses engines/, proxies/ and SSH; a test double (test/support/fake-deploy.ts, never reachable from src/) can
// be given through ControllerOptions.deploy so the API and CLI are tested without a lab.
import type { ClusterSpec, ClusterType } from '../../core/spec.ts';
import type { Engine, EngineContext, HostAccess, Topology } from '../../engines/engine.ts';
import { engineFor } from '../../engines/registry.ts';
import { deployEndpoint, updateEndpoint } from '../../proxies/index.ts';
import type { ProbeHost } from '../probe.ts';
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

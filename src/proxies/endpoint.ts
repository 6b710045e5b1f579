// The application endpoint of a cluster: HAProxy on every endpoint.proxies host (write port -> the writer,
// read port -> replicas) and, with endpoint.virtualIp, Keepalived floating the VIP between them. The controller
// calls deployEndpoint after an engine deploy and updateEndpoint after node add/remove and at failover.
import { NinesError, isNinesError } from '../core/errors.ts';
import type { ClusterSpec } from '../core/spec.ts';
import type { Topology } from '../core/topology.ts';
import type { Executor } from '../hosts/executor.ts';
import { endpointView } from './endpoint-view.ts';
import type { EndpointView } from './endpoint-view.ts';
import { HAPROXY_STATS_PORT, renderHaproxyConfigForView } from './haproxy/config.ts';
import { ensureHaproxy, writeHaproxyConfig } from './haproxy/deploy.ts';
import { currentWriter, runtimeCommands, sameServers } from './haproxy/runtime-plan.ts';
import type { BackendServerState } from './haproxy/runtime-plan.ts';
import { readBackendStates, runtimeChange } from './haproxy/runtime.ts';
import { renderKeepalivedConfig } from './keepalived/config.ts';
import { ensureKeepalived, proxyNetwork, waitVipHolder } from './keepalived/deploy.ts';

/**
 * What the endpoint needs from its caller. The controller passes its EndpointContext (engines/engine.ts), which
 * has this shape; proxies/ sits beside engines/ and so does not import it.
 */
export interface EndpointContext {
  readonly spec: ClusterSpec;
  readonly hosts: { executor(host: string): Executor };
  /** A line in the job log (never a secret). */
  log(line: string): void;
  /** Runs fn as a named, idempotent step of the job. */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
  readonly signal: AbortSignal;
}

export interface EndpointOptions {
  /** Node addresses (host:port) kept out of the read backend, e.g. replicas lagging beyond maxLagSeconds. */
  readonly lagging?: readonly string[];
}

export interface ProxyOutcome {
  readonly host: string;
  /** started/reloaded: HAProxy (re)read the config; runtime: only admin-socket commands; unchanged: nothing. */
  readonly action: 'started' | 'reloaded' | 'runtime' | 'unchanged' | 'failed';
  /** Runtime API commands sent. */
  readonly commands: readonly string[];
  readonly error?: NinesError;
}

export interface EndpointResult {
  readonly view: EndpointView;
  readonly proxies: readonly ProxyOutcome[];
  /** The proxy host holding endpoint.virtualIp after deployEndpoint. */
  readonly vipHolder?: string;
}

async function statesOrUndefined(proxy: Executor): Promise<BackendServerState[] | undefined> {
  try {
    return await readBackendStates(proxy);
  } catch (err) {
    if (isNinesError(err)) return undefined;
    throw err;
  }
}

/** Brings the running HAProxy's server states to the view; returns the commands sent. */
async function syncRuntime(proxy: Executor, view: EndpointView, signal: AbortSignal): Promise<string[]> {
  const commands = runtimeCommands(await readBackendStates(proxy, signal), view);
  await runtimeChange(proxy, commands, signal);
  return commands;
}

function ports(ctx: EndpointContext): number[] {
  const ep = ctx.spec.endpoint;
  return ep ? [ep.writePort, ep.readPort, HAPROXY_STATS_PORT] : [];
}

function planView(
  ctx: EndpointContext,
  topology: Topology,
  states: readonly (BackendServerState[] | undefined)[],
  options: EndpointOptions,
): EndpointView {
  const known = states.find((s) => s !== undefined);
  const view = endpointView(ctx.spec, topology, {
    currentWriter: known ? currentWriter(known) : undefined,
    ...(options.lagging ? { lagging: options.lagging } : {}),
  });
  ctx.log(`endpoint: writer ${view.writer ?? 'none'} (${view.reason})`);
  return view;
}

async function applyToProxy(
  ctx: EndpointContext,
  host: string,
  view: EndpointView,
  states: BackendServerState[] | undefined,
): Promise<ProxyOutcome> {
  const proxy = ctx.hosts.executor(host);
  const config = renderHaproxyConfigForView(ctx.spec, view);
  if (states !== undefined && sameServers(states, view)) {
    // Runtime first (milliseconds), then the file, so a restarted HAProxy routes the same way.
    const commands = runtimeCommands(states, view);
    await runtimeChange(proxy, commands, ctx.signal);
    await writeHaproxyConfig(proxy, config);
    ctx.log(`${host}: ${commands.length === 0 ? 'HAProxy already routes so' : commands.join('; ')}`);
    return { host, action: commands.length === 0 ? 'unchanged' : 'runtime', commands };
  }
  const action = await ensureHaproxy(proxy, config, ports(ctx));
  const commands = await syncRuntime(proxy, view, ctx.signal);
  ctx.log(`${host}: HAProxy ${action}${commands.length > 0 ? `; ${commands.join('; ')}` : ''}`);
  return { host, action, commands };
}

function requireEndpoint(ctx: EndpointContext): NonNullable<ClusterSpec['endpoint']> {
  const ep = ctx.spec.endpoint;
  if (!ep) throw new NinesError('NINES_E_ENDPOINT_NOT_CONFIGURED', `cluster ${ctx.spec.name}`);
  return ep;
}

async function deployVip(ctx: EndpointContext, vip: string): Promise<string> {
  const hosts = requireEndpoint(ctx).proxies;
  const executors = hosts.map((h) => ctx.hosts.executor(h));
  const networks = await Promise.all(
    hosts.map((h, i) => proxyNetwork(executors[i] ?? ctx.hosts.executor(h), h, vip)),
  );
  for (const net of networks) {
    await ctx.step(`keepalived on ${net.host}`, async () => {
      const action = await ensureKeepalived(
        ctx.hosts.executor(net.host),
        renderKeepalivedConfig(ctx.spec, net, networks),
      );
      ctx.log(`${net.host}: keepalived ${action} (VRRP on ${net.interface}, source ${net.address})`);
    });
  }
  return ctx.step(`virtual IP ${vip} held by one proxy`, async () => {
    const holder = await waitVipHolder(executors, vip);
    ctx.log(`${vip} is on ${holder}`);
    return holder;
  });
}

/**
 * Deploys the endpoint: HAProxy with the topology's routing on every proxy host (config validated, started or
 * reloaded, ports verified, runtime state brought to the view), then Keepalived when a VIP is set.
 * Idempotent: a second run changes nothing. Returns an empty result when the spec has no endpoint.
 */
export async function deployEndpoint(
  ctx: EndpointContext,
  topology: Topology,
  options: EndpointOptions = {},
): Promise<EndpointResult> {
  const ep = ctx.spec.endpoint;
  if (!ep) {
    ctx.log('the spec has no endpoint: no proxies to deploy');
    return { view: endpointView(ctx.spec, topology, options), proxies: [] };
  }
  const states = await Promise.all(ep.proxies.map((h) => statesOrUndefined(ctx.hosts.executor(h))));
  const view = planView(ctx, topology, states, options);
  const proxies: ProxyOutcome[] = [];
  for (const [i, host] of ep.proxies.entries()) {
    proxies.push(await ctx.step(`haproxy on ${host}`, () => applyToProxy(ctx, host, view, states[i])));
  }
  if (ep.virtualIp === undefined) return { view, proxies };
  return { view, proxies, vipHolder: await deployVip(ctx, ep.virtualIp) };
}

/**
 * Applies a new topology to every proxy: through the admin socket when HAProxy knows the same servers (a
 * writer move takes milliseconds), with a config reload when nodes were added or removed, and always
 * rewriting haproxy.cfg so a restarted HAProxy routes the same way. A proxy that cannot be reached does not
 * stop the others (at failover one proxy host may be down): its outcome is 'failed'. Throws only when no
 * proxy could be updated.
 */
export async function updateEndpoint(
  ctx: EndpointContext,
  topology: Topology,
  options: EndpointOptions = {},
): Promise<EndpointResult> {
  const ep = requireEndpoint(ctx);
  const states = await Promise.all(ep.proxies.map((h) => statesOrUndefined(ctx.hosts.executor(h))));
  const view = planView(ctx, topology, states, options);
  const outcomes = await Promise.all(
    ep.proxies.map(async (host, i): Promise<ProxyOutcome> => {
      try {
        return await applyToProxy(ctx, host, view, states[i]);
      } catch (err) {
        if (!isNinesError(err)) throw err;
        ctx.log(`${host}: endpoint update failed: ${err.message}`);
        return { host, action: 'failed', commands: [], error: err };
      }
    }),
  );
  const failed = outcomes.filter((o) => o.action === 'failed');
  if (failed.length === outcomes.length && failed[0]?.error) throw failed[0].error;
  return { view, proxies: outcomes };
}

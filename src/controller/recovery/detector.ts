// Detection with every vantage point, at no cost in seconds: from each snapshot the replicas' links and the
// proxies' last readings (pure, core/recovery/vantage.ts); at the first sign of trouble (one failed probe, a link
// or a proxy check down) every reachable replica's host is asked over SSH whether the primary's port answers, and
// every proxy is read — all at once, bounded by portCheckMs, in the background — so when the probe that declares
// the primary down comes back a second later the answers are already in. analysePrimary decides.
import { nodeKey, type ClusterSnapshot } from '../../core/monitor/observation.ts';
import { analysePrimary, type Detection, type Verdict } from '../../core/recovery/detection.ts';
import {
  proxyVantages,
  replicaVantages,
  suspicious,
  type ProxyReading,
} from '../../core/recovery/vantage.ts';
import type { ClusterSpec } from '../../core/spec.ts';
import type { HostAccess, RecoveryContext, ReplicationRecovery } from '../../engines/engine.ts';
import { WRITE_BACKEND, serverName } from '../../proxies/endpoint-view.ts';
import { readBackendStates } from '../../proxies/haproxy/runtime.ts';
import type { ProxyStates } from '../monitor/cluster-monitor.ts';

/** Proxy readings older than this say nothing. */
const PROXY_MAX_AGE_MS = 3000;
/** Answers gathered this recently are reused by the next tick's decision. */
const FRESH_MS = 2500;

export interface DetectInput {
  readonly spec: ClusterSpec;
  readonly recovery: ReplicationRecovery;
  readonly snapshot: ClusterSnapshot;
  /** host:port of the primary. */
  readonly primary: string;
  /** The monitor's latest proxy readings. */
  readonly proxies: readonly ProxyStates[];
  readonly hosts: HostAccess;
  ctx(signal: AbortSignal): RecoveryContext;
  readonly portCheckMs: number;
  readonly signal: AbortSignal;
  now(): number;
}

interface Answers {
  readonly time: number;
  readonly primary: string;
  readonly ports: ReadonlyMap<string, Verdict>;
  readonly proxies: readonly ProxyReading[];
}

function split(k: string): { host: string; port: number } {
  const i = k.lastIndexOf(':');
  return { host: k.slice(0, i), port: Number(k.slice(i + 1)) };
}

export class Detector {
  private answers: Answers | undefined;
  private gathering: Promise<void> | undefined;

  async detect(input: DetectInput): Promise<Detection> {
    const { snapshot, primary } = input;
    const primarySnap = snapshot.nodes.find((n) => nodeKey(n) === primary);
    const server = serverName(split(primary));
    const replicas = replicaVantages(snapshot, primary);
    const readings = input.proxies.map((p) => ({
      proxy: p.proxy,
      time: p.time,
      ...(p.servers ? { servers: p.servers } : {}),
    }));
    let proxies = proxyVantages(readings, server, WRITE_BACKEND, snapshot.time, PROXY_MAX_AGE_MS);
    const downAfter = snapshot.thresholds.downAfterFailures;
    const failures = primarySnap?.consecutiveFailures ?? 0;
    if (!suspicious(primarySnap, replicas, proxies)) {
      this.answers = undefined;
      return analysePrimary({ controllerFailures: 0, downAfterFailures: downAfter, replicas, proxies });
    }
    const fresh = this.answers;
    const usable = fresh !== undefined && fresh.primary === primary && input.now() - fresh.time <= FRESH_MS;
    if (failures > 0 && failures < downAfter) {
      // Not declared down yet: ask now, decide on the next tick with the answers.
      void this.gather(input);
    } else if (!usable || this.gathering) {
      await this.gather(input);
    }
    const a = this.answers;
    const withPorts = replicas.map((r) => ({
      ...r,
      portCheck: a?.primary === primary ? (a.ports.get(r.node) ?? 'unknown') : 'unknown',
    }));
    if (a && a.primary === primary && a.proxies.some((p) => p.servers)) {
      proxies = proxyVantages(a.proxies, server, WRITE_BACKEND, input.now(), PROXY_MAX_AGE_MS);
    }
    return analysePrimary({
      controllerFailures: failures,
      downAfterFailures: downAfter,
      replicas: withPorts,
      proxies,
    });
  }

  /** Asks every reachable replica's host and every proxy at once; one gathering at a time. */
  private gather(input: DetectInput): Promise<void> {
    if (this.gathering) return this.gathering;
    const { spec, snapshot, primary } = input;
    const target = spec.nodes.find((n) => nodeKey(n) === primary);
    if (!target) return Promise.resolve();
    const bound = input.portCheckMs;
    const signal = AbortSignal.any([input.signal, AbortSignal.timeout(bound + 300)]);
    const ctx = input.ctx(signal);
    const reachable = new Set(
      snapshot.nodes.filter((n) => n.observation?.reachable === true).map((n) => nodeKey(n)),
    );
    const replicas = spec.nodes.filter((n) => nodeKey(n) !== primary && reachable.has(nodeKey(n)));
    const work = async (): Promise<void> => {
      const [ports, proxies] = await Promise.all([
        Promise.all(
          replicas.map(async (r): Promise<[string, Verdict]> => {
            const v = await input.recovery.portCheck(ctx, r, target, bound).catch(() => 'unknown' as const);
            return [nodeKey(r), v];
          }),
        ),
        Promise.all(
          (spec.endpoint?.proxies ?? []).map(async (p): Promise<ProxyReading> => {
            try {
              const servers = await readBackendStates(input.hosts.executor(p), signal);
              return { proxy: p, time: input.now(), servers };
            } catch {
              return { proxy: p, time: input.now() };
            }
          }),
        ),
      ]);
      this.answers = { time: input.now(), primary, ports: new Map(ports), proxies };
    };
    this.gathering = work().finally(() => {
      this.gathering = undefined;
    });
    return this.gathering;
  }
}

// Deploy a primary and its streaming standbys from the spec. Every step is idempotent: each one looks at the
// node first (one probe round trip) and does only what is missing, so a retried job finishes a half-done deploy.
import { randomBytes } from 'node:crypto';
import { NinesError } from '../../core/errors.ts';
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { Executor } from '../../hosts/executor.ts';
import { nodeAddress, type EngineContext, type Topology } from '../engine.ts';
import {
  applicationName,
  pgPaths,
  renderNodeFiles,
  renderPgpass,
  renderPrimarySetupSql,
  slotName,
  specPrimary,
} from './config.ts';
import { asAdmin, eachNode, pollUntil, sameNode, type NodeContext } from './common.ts';
import { discover } from './discover.ts';
import {
  cloneFrom,
  createCluster,
  ensurePackage,
  probeNode,
  psql,
  removeFile,
  service,
  wipeData,
  writeFiles,
  type NodeProbe,
} from './server.ts';

const STREAMING_TIMEOUT_MS = 60_000;
const MARKER_TIMEOUT_MS = 30_000;

function exec(ctx: NodeContext, node: NodeSpec): Executor {
  return ctx.hosts.executor(node.host);
}

/** Reachable, package installed (apt when missing), port free unless our own server holds it. */
export async function checkNode(ctx: NodeContext, node: NodeSpec): Promise<NodeProbe> {
  const ex = exec(ctx, node);
  let probe = await probeNode(ex, ctx.spec, node, ctx.signal);
  if (!probe.packageInstalled) {
    ctx.log(`${ex.host}: postgresql-${ctx.spec.version} missing, installing with apt`);
    await ensurePackage(ex, ctx.spec.version, ctx.signal);
    probe = await probeNode(ex, ctx.spec, node, ctx.signal);
  }
  if (probe.portBusy && !probe.running) {
    throw new NinesError(
      'NINES_E_PORT_IN_USE',
      `port ${node.port} on ${ex.host} is used by a program other than PostgreSQL ${ctx.spec.version}/main`,
      { context: { host: ex.host, port: node.port } },
    );
  }
  return probe;
}

/** After a reload: restart when a changed setting needs it (shared_preload_libraries, shared_buffers, ...). */
async function applyConfig(ctx: EngineContext, node: NodeSpec, probe: NodeProbe): Promise<void> {
  const ex = exec(ctx, node);
  if (!probe.running) {
    await service(ex, ctx.spec, 'start', probe.systemd);
    return;
  }
  await service(ex, ctx.spec, 'reload', probe.systemd);
  const pending = await psql(ex, ctx.spec, node, 'SELECT count(*) FROM pg_settings WHERE pending_restart;');
  if (Number(pending.trim()) > 0) {
    ctx.log(`${nodeAddress(node)}: settings changed that need a restart; restarting`);
    await service(ex, ctx.spec, 'stop', probe.systemd);
    await service(ex, ctx.spec, 'start', probe.systemd);
  }
}

/** Writes the node's files; `primary` decides whether it gets the standby drop-in. */
export async function writeNodeFiles(ctx: EngineContext, node: NodeSpec, primary: NodeSpec): Promise<void> {
  const ex = exec(ctx, node);
  const paths = pgPaths(ctx.spec.version);
  await writeFiles(ex, renderNodeFiles(ctx.spec, node, ctx.controllerAddress, primary));
  await ex.putFile(paths.pgpass, renderPgpass(ctx.spec), {
    mode: 0o600,
    owner: 'postgres:postgres',
    sudo: true,
  });
  if (sameNode(node, primary)) await removeFile(ex, paths.standbyDropIn);
}

async function createClusters(ctx: EngineContext, primary: NodeSpec): Promise<void> {
  await eachNode(ctx.spec.nodes, async (node) => {
    const probe = await checkNode(ctx, node);
    if (probe.configExists && probe.dataExists) return;
    // A standby's data is replaced by the clone: skip initdb's fsync there.
    await createCluster(exec(ctx, node), ctx.spec, node, !sameNode(node, primary));
  });
}

export async function startPrimary(ctx: EngineContext, primary: NodeSpec): Promise<void> {
  const probe = await checkNode(ctx, primary);
  if (probe.running && probe.standbySignal) {
    throw new NinesError(
      'NINES_E_TOPOLOGY_INCONSISTENT',
      `${nodeAddress(primary)} should be the primary but runs as a standby; switch over or fix the spec`,
      { context: { host: primary.host } },
    );
  }
  await writeNodeFiles(ctx, primary, primary);
  await applyConfig(ctx, primary, probe);
}

async function setupPrimary(ctx: EngineContext, primary: NodeSpec): Promise<void> {
  const sql = renderPrimarySetupSql(ctx.spec, () => randomBytes(16), primary);
  await psql(exec(ctx, primary), ctx.spec, primary, sql);
}

export async function systemIdentifier(
  ctx: Pick<NodeContext, 'spec' | 'signal'>,
  primary: NodeSpec,
): Promise<string> {
  const rows = await asAdmin(ctx, primary, (c) =>
    c.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'),
  );
  return rows[0]?.id ?? '';
}

/** Ends a walsender still holding the slot (a clone that died with its host), so the slot can be reused. */
export async function releaseSlot(ctx: NodeContext, primary: NodeSpec, slot: string): Promise<void> {
  await asAdmin(ctx, primary, (c) =>
    c.query(
      'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL',
      [slot],
    ),
  );
  await pollUntil(
    async () => {
      const rows = await asAdmin(ctx, primary, (c) =>
        c.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot]),
      );
      return rows.length === 0 ? true : undefined;
    },
    {
      timeoutMs: 15_000,
      signal: ctx.signal,
      onTimeout: () =>
        new NinesError('NINES_E_DEPLOY_FAILED', `slot ${slot} on ${primary.host} stays in use`),
    },
  );
}

/**
 * Makes `node` a running standby of `primary`: keeps its data when it already is a clone of this primary
 * (same system identifier, standby.signal), else stops it, empties the datadir and clones again.
 */
export async function provisionStandby(
  ctx: EngineContext,
  node: NodeSpec,
  primary: NodeSpec,
  primarySystemId: string,
): Promise<void> {
  const ex = exec(ctx, node);
  let probe = await checkNode(ctx, node);
  if (!probe.configExists) {
    await createCluster(ex, ctx.spec, node, true);
    probe = await checkNode(ctx, node);
  }
  await writeNodeFiles(ctx, node, primary);
  const isClone = probe.dataExists && probe.standbySignal && probe.systemIdentifier === primarySystemId;
  if (isClone) {
    ctx.log(`${nodeAddress(node)}: already a standby of ${nodeAddress(primary)}; keeping its data`);
    await applyConfig(ctx, node, probe);
    return;
  }
  await cloneStandby(ctx, node, primary, probe);
}

/**
 * Replaces `node`'s data by a fresh base backup of `primary` (through the node's slot, which must exist) and
 * starts it as a standby. The node's configuration files are left as they are (the caller wrote them).
 */
export async function cloneStandby(
  ctx: NodeContext,
  node: NodeSpec,
  primary: NodeSpec,
  probe: NodeProbe,
): Promise<void> {
  const ex = exec(ctx, node);
  ctx.log(`${nodeAddress(node)}: cloning from ${nodeAddress(primary)} (pg_basebackup)`);
  await releaseSlot(ctx, primary, slotName(node));
  await wipeData(ex, ctx.spec, probe, ctx.signal);
  await cloneFrom(ex, ctx.spec, node, primary, ctx.signal);
  await service(ex, ctx.spec, 'start', probe.systemd, { signal: ctx.signal });
}

interface ReplicationRow {
  application_name: string;
  state: string;
  sync_state: string;
}

/** Waits until every standby streams from the primary (and, with synchronous, one is sync/quorum). */
export async function waitStreaming(
  ctx: EngineContext,
  primary: NodeSpec,
  standbys: readonly NodeSpec[],
): Promise<ReplicationRow[]> {
  const wanted = standbys.map((n) => applicationName(n));
  const synchronous = ctx.spec.options.synchronous === true && standbys.length > 0;
  let last: ReplicationRow[] = [];
  return pollUntil(
    async () => {
      last = await asAdmin(ctx, primary, (c) =>
        c.query<ReplicationRow>('SELECT application_name, state, sync_state FROM pg_stat_replication'),
      );
      const streaming = wanted.every((w) =>
        last.some((r) => r.application_name === w && r.state === 'streaming'),
      );
      const syncOk = !synchronous || last.some((r) => r.sync_state === 'sync' || r.sync_state === 'quorum');
      return streaming && syncOk ? last : undefined;
    },
    {
      timeoutMs: STREAMING_TIMEOUT_MS,
      signal: ctx.signal,
      onTimeout: () =>
        new NinesError(
          'NINES_E_DEPLOY_FAILED',
          `standbys not streaming from ${nodeAddress(primary)} after ${STREAMING_TIMEOUT_MS / 1000} s: wanted ${wanted.join(', ')}, pg_stat_replication shows ${JSON.stringify(last)}`,
          { context: { primary: primary.host, replication: last } },
        ),
    },
  );
}

/** Writes a marker row on the primary and reads it back on every standby within a deadline. */
export async function verifyReplication(
  ctx: EngineContext,
  primary: NodeSpec,
  standbys: readonly NodeSpec[],
): Promise<void> {
  const token = randomBytes(8).toString('hex');
  await asAdmin(ctx, primary, (c) =>
    c.query(
      "INSERT INTO nines.marker (id, token) VALUES ('deploy', $1) ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token, at = now()",
      [token],
    ),
  );
  await eachNode(standbys, async (node) => {
    await pollUntil(
      async () => {
        const rows = await asAdmin(ctx, node, (c) =>
          c.query<{ token: string }>("SELECT token FROM nines.marker WHERE id = 'deploy'"),
        );
        return rows[0]?.token === token ? true : undefined;
      },
      {
        timeoutMs: MARKER_TIMEOUT_MS,
        signal: ctx.signal,
        onTimeout: () =>
          new NinesError(
            'NINES_E_DEPLOY_FAILED',
            `the marker row written on ${nodeAddress(primary)} did not reach ${nodeAddress(node)} within ${MARKER_TIMEOUT_MS / 1000} s`,
          ),
      },
    );
  });
}

export function standbysOf(spec: ClusterSpec, primary: NodeSpec): NodeSpec[] {
  return spec.nodes.filter((n) => !sameNode(n, primary));
}

export async function deploy(ctx: EngineContext): Promise<Topology> {
  const primary = specPrimary(ctx.spec);
  const standbys = standbysOf(ctx.spec, primary);
  const p = nodeAddress(primary);
  await ctx.step('check hosts (reachable, package, port)', () =>
    eachNode(ctx.spec.nodes, async (n) => void (await checkNode(ctx, n))),
  );
  await ctx.step('create clusters', () => createClusters(ctx, primary));
  await ctx.step(`primary ${p}: configure and start`, () => startPrimary(ctx, primary));
  await ctx.step(`primary ${p}: users, pg_stat_statements, replication slots`, () =>
    setupPrimary(ctx, primary),
  );
  await ctx.step('standbys: clone and start', async () => {
    const sysid = await systemIdentifier(ctx, primary);
    await eachNode(standbys, (n) => provisionStandby(ctx, n, primary, sysid));
  });
  await ctx.step('standbys streaming', async () => {
    const rows = await waitStreaming(ctx, primary, standbys);
    ctx.log(
      `pg_stat_replication: ${rows.map((r) => `${r.application_name}=${r.state}/${r.sync_state}`).join(' ')}`,
    );
  });
  await ctx.step('verify: marker row on every standby', () => verifyReplication(ctx, primary, standbys));
  return discover(ctx);
}

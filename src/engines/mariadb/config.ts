// Pure rendering of a MariaDB replication node's option file (90-nines.cnf). Every node gets the same shape:
// any replica may become the primary, so binlog, relay log and both semi-sync sides are configured everywhere,
// and every node starts read-only — the deploy (or a failover) makes the confirmed primary writable explicitly.
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { ConfigFile } from '../engine.ts';
import { PATHS, commonServerEntries, generatedHeader, renderIni, type IniValue } from '../mysql/config.ts';

/** Seconds without data from the primary before a replica reconnects (with a 1 s heartbeat). */
export const SLAVE_NET_TIMEOUT_S = 5;
/**
 * How long a semi-sync primary waits for a replica's ACK before it falls back to asynchronous commits. MariaDB's
 * default (10 s): a fallback makes every later failover unprovable (the loss bound is gone), so a replica slow to
 * acknowledge under load must not cause one; commits stall this long only when no replica answers at all.
 */
export const SEMI_SYNC_TIMEOUT_MS = 10_000;

function replicationEntries(spec: ClusterSpec): (readonly [string, IniValue])[] {
  const entries: (readonly [string, IniValue])[] = [
    ['log_bin', 'mariadb-bin'],
    ['log_bin_index', 'mariadb-bin.index'],
    ['relay_log', 'mariadb-relay'],
    ['relay_log_index', 'mariadb-relay.index'],
    ['relay_log_recovery', true],
    ['log_slave_updates', true],
    ['gtid_strict_mode', true],
    ['gtid_domain_id', 0],
    ['sync_binlog', 1],
    ['innodb_flush_log_at_trx_commit', 1],
    ['read_only', true],
    ['slave_net_timeout', SLAVE_NET_TIMEOUT_S],
  ];
  if (spec.options.semiSync === true) {
    entries.push(
      ['rpl_semi_sync_master_enabled', true],
      ['rpl_semi_sync_slave_enabled', true],
      ['rpl_semi_sync_master_timeout', SEMI_SYNC_TIMEOUT_MS],
      ['rpl_semi_sync_master_wait_point', 'AFTER_SYNC'],
    );
  }
  return entries;
}

export function renderReplicationConfig(spec: ClusterSpec, node: NodeSpec): ConfigFile[] {
  const content = renderIni(generatedHeader(spec, node, 'MariaDB replication settings'), [
    ['mariadbd', [...commonServerEntries(node), ...replicationEntries(spec)]],
  ]);
  return [{ path: PATHS.config, content, mode: 0o644, owner: 'root:root' }];
}

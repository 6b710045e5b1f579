// Pure rendering of a Galera node's option files: 90-nines.cnf (wsrep settings, world-readable) and, for
// mariabackup SST, 91-nines-sst.cnf holding wsrep_sst_auth (0640 mysql:mysql, as it holds a password).
import type { ClusterSpec, NodeSpec } from '../../core/spec.ts';
import type { ConfigFile } from '../engine.ts';
import {
  PATHS,
  USERS,
  commonServerEntries,
  generatedHeader,
  renderIni,
  type IniValue,
} from '../mysql/config.ts';

export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so';

/** Galera's failure-detection timeouts (see wsrepEntries). */
export const GALERA_EVS_OPTIONS =
  'evs.keepalive_period=PT0.5S; evs.suspect_timeout=PT2S; evs.inactive_timeout=PT6S; evs.inactive_check_period=PT0.5S; evs.install_timeout=PT5S';

export function sstMethod(spec: ClusterSpec): 'rsync' | 'mariabackup' {
  return spec.options.sstMethod ?? 'mariabackup';
}

/** gcomm://a,b,c — every node of the spec (a node ignores its own address in the list). */
export function clusterAddress(nodes: readonly NodeSpec[]): string {
  return `gcomm://${[...new Set(nodes.map((n) => n.host))].join(',')}`;
}

function wsrepEntries(spec: ClusterSpec, node: NodeSpec): (readonly [string, IniValue])[] {
  return [
    ['wsrep_on', true],
    ['wsrep_provider', GALERA_PROVIDER],
    ['wsrep_cluster_name', spec.name],
    ['wsrep_cluster_address', clusterAddress(spec.nodes)],
    ['wsrep_node_address', node.host],
    ['wsrep_node_name', node.host],
    ['wsrep_sst_method', sstMethod(spec)],
    // evs: a member that stops answering is suspected after 2 s (default 5 s) when every other member agrees,
    // and evicted alone after 6 s (default 15 s): the survivors' commits stall until the dead member is out of
    // the view, so the suspect timeout bounds the write stall of a crash or power loss; keepalives every 0.5 s
    // (Galera wants them under a third of the suspect timeout: four missed before a suspicion). docs/failure-modes.md has the figures.
    ['wsrep_provider_options', `gcache.size=${spec.options.gcacheSize ?? '1G'}; ${GALERA_EVS_OPTIONS}`],
    ['wsrep_slave_threads', 2],
    ['innodb_autoinc_lock_mode', 2],
    ['innodb_flush_log_at_trx_commit', 2],
  ];
}

export function renderGaleraConfig(spec: ClusterSpec, node: NodeSpec): ConfigFile[] {
  const content = renderIni(generatedHeader(spec, node, 'MariaDB Galera settings'), [
    ['mariadbd', [...commonServerEntries(node), ...wsrepEntries(spec, node)]],
    // Without this, SST scripts log to syslog, which does not exist on minimal hosts: their output would vanish.
    ['sst', [['sst-syslog', -1]]],
  ]);
  const files: ConfigFile[] = [{ path: PATHS.config, content, mode: 0o644, owner: 'root:root' }];
  if (sstMethod(spec) === 'mariabackup') {
    const auth = renderIni(generatedHeader(spec, node, 'Galera SST credentials'), [
      ['mariadbd', [['wsrep_sst_auth', `${USERS.sst}:${spec.credentials.replication}`]]],
    ]);
    files.push({ path: PATHS.sstAuth, content: auth, mode: 0o640, owner: 'mysql:mysql' });
  }
  return files;
}

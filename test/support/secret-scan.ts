// Integration-test support: looks for clear-text secrets in what a database server keeps on its host — binlogs,
// relay logs, Galera's GCache, server and client logs — both as raw bytes and, for binlogs/relay logs, as
// decoded by mariadb-binlog. Returns "file: secret #i" findings (the secret itself is never printed).
import type { Executor } from '../../src/hosts/executor.ts';
import { credentialSecrets } from '../../src/core/redact.ts';

const MARIADB_FILES = String.raw`find /var/lib/mysql -maxdepth 1 -type f \( -name '*-bin.[0-9]*' -o -name '*-relay.[0-9]*' -o -name 'galera.cache' -o -name '*.log' -o -name '*.err' \) ; find /var/log/mysql /var/log/postgresql -type f 2>/dev/null; true`;

/** The files scanned on a host (binlogs, relay logs, GCache, logs). */
export async function scannedFiles(ex: Executor): Promise<string[]> {
  const r = await ex.exec(['sh', '-c', MARIADB_FILES], { sudo: true });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

export async function findSecrets(ex: Executor, secrets: readonly string[]): Promise<string[]> {
  const forms = credentialSecrets(Object.fromEntries(secrets.map((s, i) => [String(i), s])));
  const needles = forms.map((f) => ({ index: forms.indexOf(f), bytes: Buffer.from(f, 'utf8') }));
  const hits: string[] = [];
  const files = await scannedFiles(ex);
  const check = (where: string, data: Buffer): void => {
    for (const n of needles)
      if (data.includes(n.bytes)) hits.push(`${ex.host}:${where}: secret form #${n.index}`);
  };
  for (const file of files) {
    check(file, await ex.getFile(file, { sudo: true }));
    if (/-(bin|relay)\.\d+$/.test(file)) {
      const decoded = await ex.exec(['mariadb-binlog', '--base64-output=decode-rows', '-v', file], {
        sudo: true,
        timeoutMs: 60_000,
      });
      check(`${file} (mariadb-binlog)`, Buffer.from(decoded.stdout));
    }
  }
  return hits;
}

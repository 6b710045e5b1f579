// Host-key pinning in an OpenSSH known_hosts file, so `ssh -o UserKnownHostsFile=FILE` trusts the same keys.
// Reading understands what OpenSSH writes: comma-separated patterns, `[host]:port`, hashed names (|1|salt|hash),
// wildcards, negation and the @revoked marker (@cert-authority lines are ignored: nines does not use host
// certificates). Writing appends one line per new host (trust on first use) under a lock file, re-reading
// the file inside the lock so two controllers or two executors cannot record different keys for one host.
import { createHmac } from 'node:crypto';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface KnownHostLine {
  readonly marker: 'revoked' | 'cert-authority' | undefined;
  readonly patterns: readonly string[];
  readonly keyType: string;
  readonly key: Buffer;
}

export type HostKeyVerdict = 'known' | 'added' | 'changed' | 'revoked';

/** The name OpenSSH records for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHostsLine(raw: string): KnownHostLine | undefined {
  const line = raw.trim();
  if (line.length === 0 || line.startsWith('#')) return undefined;
  const fields = line.split(/\s+/);
  let marker: KnownHostLine['marker'];
  if (fields[0]?.startsWith('@')) {
    const m = fields.shift();
    if (m !== '@revoked' && m !== '@cert-authority') return undefined;
    marker = m === '@revoked' ? 'revoked' : 'cert-authority';
  }
  const [hosts, keyType, keyB64] = fields;
  if (hosts === undefined || keyType === undefined || keyB64 === undefined) return undefined;
  const key = Buffer.from(keyB64, 'base64');
  if (key.length === 0) return undefined;
  return { marker, patterns: hosts.split(','), keyType, key };
}

export function parseKnownHosts(text: string): KnownHostLine[] {
  return text.split('\n').flatMap((l) => parseKnownHostsLine(l) ?? []);
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${body}$`, 'i');
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (salt === undefined || hash === undefined) return false;
    const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return digest === hash;
  }
  return globToRegExp(pattern).test(name);
}

/** OpenSSH semantics: a line matches when some pattern matches and no negated (!) pattern does. */
export function lineMatchesHost(line: KnownHostLine, name: string): boolean {
  let matched = false;
  for (const p of line.patterns) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), name)) return false;
    } else if (patternMatches(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/** The key type inside an SSH public key blob (its first length-prefixed string). */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function formatKnownHostsLine(name: string, blob: Buffer): string {
  return `${name} ${keyTypeOfBlob(blob)} ${blob.toString('base64')}\n`;
}

/** Judges a presented key against the lines of a file (no I/O). 'added' is never returned here. */
export function judgeHostKey(
  lines: readonly KnownHostLine[],
  name: string,
  blob: Buffer,
): HostKeyVerdict | 'unknown' {
  const mine = lines.filter((l) => l.marker !== 'cert-authority' && lineMatchesHost(l, name));
  if (mine.some((l) => l.marker === 'revoked' && l.key.equals(blob))) return 'revoked';
  const trusted = mine.filter((l) => l.marker === undefined);
  if (trusted.some((l) => l.key.equals(blob))) return 'known';
  return trusted.length > 0 ? 'changed' : 'unknown';
}

const ALGORITHMS_BY_KEY_TYPE: Readonly<Record<string, readonly string[]>> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * Host-key algorithms to offer for a host with recorded keys, like OpenSSH does: only types we can verify,
 * so a host with several keys presents the recorded one. Undefined when nothing usable is recorded.
 */
export function hostKeyAlgorithmsFor(lines: readonly KnownHostLine[], name: string): string[] | undefined {
  const types = lines
    .filter((l) => l.marker === undefined && lineMatchesHost(l, name))
    .flatMap((l) => ALGORITHMS_BY_KEY_TYPE[l.keyType] ?? []);
  const unique = [...new Set(types)];
  return unique.length > 0 ? unique : undefined;
}

export async function readKnownHosts(path: string): Promise<KnownHostLine[]> {
  try {
    return parseKnownHosts(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 10_000;
const inProcess = new Map<string, Promise<unknown>>();

async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const lockPath = `${path}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || Date.now() > deadline) throw err;
      const age = await stat(lockPath).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) await rm(lockPath, { force: true });
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}

/** Serialises the callers of one file inside this process, then across processes with the lock file. */
async function serialised<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const previous = inProcess.get(path) ?? Promise.resolve();
  const run = previous.then(
    () => withFileLock(path, fn),
    () => withFileLock(path, fn),
  );
  const settled = run.catch(() => undefined);
  inProcess.set(path, settled);
  try {
    return await run;
  } finally {
    if (inProcess.get(path) === settled) inProcess.delete(path);
  }
}

/**
 * Checks a presented host key against the file and records it if the host is new (trust on first use).
 * 'changed' and 'revoked' must make the caller refuse the connection.
 */
export async function verifyHostKey(
  path: string,
  host: string,
  port: number,
  blob: Buffer,
): Promise<HostKeyVerdict> {
  const name = knownHostName(host, port);
  const verdict = judgeHostKey(await readKnownHosts(path), name, blob);
  if (verdict !== 'unknown') return verdict;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return serialised(path, async () => {
    const again = judgeHostKey(await readKnownHosts(path), name, blob);
    if (again !== 'unknown') return again;
    // One write() of one line with O_APPEND: readers never see half a line.
    const fh = await open(path, 'a+', 0o600);
    try {
      const size = (await fh.stat()).size;
      const prefix = size > 0 && !(await endsWithNewline(fh, size)) ? '\n' : '';
      await fh.write(prefix + formatKnownHostsLine(name, blob));
    } finally {
      await fh.close();
    }
    return 'added';
  });
}

async function endsWithNewline(fh: FileHandle, size: number): Promise<boolean> {
  const buf = Buffer.alloc(1);
  await fh.read(buf, 0, 1, size - 1);
  return buf[0] === 0x0a;
}

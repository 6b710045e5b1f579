// HTTPS to the controller, verified like SSH host keys: the certificate a controller presents the first time is
// pinned in known_controllers ($NINES_KNOWN_CONTROLLERS, else $XDG_CONFIG_HOME/nines/known_controllers, else
// ~/.config/nines/known_controllers; one line "HOST:PORT SHA256-FINGERPRINT BASE64-DER"); later connections trust
// that certificate only (TLS itself refuses another one, before any request or token is sent). With --ca FILE
// (or NINES_CA) the server is verified against that CA instead, host name included.
import type { X509Certificate } from 'node:crypto';
import { appendFileSync, chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { connect } from 'node:tls';
import { NinesError } from '../core/errors.ts';

export function knownControllersFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NINES_KNOWN_CONTROLLERS) return env.NINES_KNOWN_CONTROLLERS;
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'nines', 'known_controllers');
}

interface Pin {
  readonly fingerprint: string;
  readonly pem: string;
  readonly line: number;
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}

/** The pin for HOST:PORT in the file, if any (the first matching line wins). */
export function readPin(file: string, hostPort: string): Pin | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const [name, fingerprint, der] = (lines[i] ?? '').trim().split(/\s+/);
    if (name === hostPort && fingerprint && der) {
      return { fingerprint, pem: toPem(Buffer.from(der, 'base64')), line: i + 1 };
    }
  }
  return undefined;
}

function writePin(file: string, hostPort: string, cert: X509Certificate): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${hostPort} ${cert.fingerprint256} ${cert.raw.toString('base64')}\n`, {
    mode: 0o600,
  });
  chmodSync(file, 0o600);
}

/** Connects without verifying, only to read the certificate the server presents (no request is sent). */
function presentedCertificate(url: URL, timeoutMs: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      rejectUnauthorized: false,
      ...(/^[\d.]+$|:/.test(url.hostname) ? {} : { servername: url.hostname }),
    });
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`TLS handshake timed out after ${timeoutMs} ms`)),
    );
    socket.once('secureConnect', () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert);
      else reject(new Error('the server presented no certificate'));
    });
    socket.once('error', reject);
  });
}

function hostPortOf(url: URL): string {
  return `${url.hostname}:${url.port || 443}`;
}

export interface HttpsInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signal?: AbortSignal;
}

export interface TlsTrust {
  /** PEM CA bundle (--ca): normal verification, host name included. */
  readonly ca?: Buffer;
  /** known_controllers file used when no CA is given. */
  readonly knownControllers: string;
}

function send(url: URL, init: HttpsInit, options: RequestOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      ...options,
      method: init.method ?? 'GET',
      headers: init.headers ?? {},
      ...(init.signal ? { signal: init.signal } : {}),
    });
    req.once('error', reject);
    req.once('response', (res) => {
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        for (const one of [v ?? []].flat()) headers.append(k, one);
      }
      const status = res.statusCode ?? 502;
      const empty = status === 204 || status === 205 || status === 304;
      if (empty) res.resume();
      const body = empty ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
      resolve(new Response(body, { status, headers }));
    });
    req.end(init.body);
  });
}

/** fetch() for an https controller URL, with the certificate verified by --ca or by its pin. */
export async function httpsFetch(url: URL, init: HttpsInit, trust: TlsTrust): Promise<Response> {
  if (trust.ca) {
    try {
      return await send(url, init, { ca: trust.ca });
    } catch (err) {
      if (isTlsError(err)) {
        throw new NinesError('NINES_E_API_TLS', `${hostPortOf(url)}: ${(err as Error).message}`, {
          cause: err,
          context: { url: url.origin },
        });
      }
      throw err;
    }
  }
  const hostPort = hostPortOf(url);
  const file = trust.knownControllers;
  let pin = readPin(file, hostPort);
  if (!pin) {
    const cert = await presentedCertificate(url, 10_000);
    writePin(file, hostPort, cert);
    process.stderr.write(
      `nines: pinned the certificate of the controller ${hostPort} (sha256 ${cert.fingerprint256}) in ${file}\n`,
    );
    pin = readPin(file, hostPort);
    if (!pin) throw new NinesError('NINES_E_API_TLS', `cannot read back the pin from ${file}`);
  }
  const pinned = pin;
  try {
    // The pinned certificate is the only trust anchor; its name is not checked (the pin is the identity).
    return await send(url, init, {
      ca: pinned.pem,
      allowPartialTrustChain: true,
      checkServerIdentity: () => undefined,
    });
  } catch (err) {
    if (!isTlsError(err)) throw err;
    const presented = await presentedCertificate(url, 10_000).catch(() => undefined);
    if (presented && presented.fingerprint256 !== pinned.fingerprint) {
      throw new NinesError(
        'NINES_E_API_CERT_CHANGED',
        `${hostPort} presented sha256 ${presented.fingerprint256}, pinned ${pinned.fingerprint} at ${file} line ${pinned.line}`,
        { cause: err, context: { url: url.origin, file, line: pinned.line } },
      );
    }
    throw new NinesError('NINES_E_API_TLS', `${hostPort}: ${(err as Error).message}`, {
      cause: err,
      context: { url: url.origin },
    });
  }
}

/** Certificate verification failures (OpenSSL codes) and TLS protocol errors, as opposed to network errors. */
function isTlsError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|HOSTNAME|ISSUER/.test(code);
}

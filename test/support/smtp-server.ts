// A minimal SMTP server for tests on node:net, speaking enough ESMTP for nodemailer: EHLO/HELO, optional
// AUTH PLAIN, MAIL FROM, RCPT TO, DATA (with dot-unstuffing), RSET, NOOP, QUIT. No TLS: nodemailer sends in
// plain text when the server does not offer STARTTLS. Listens on 127.0.0.1 (ephemeral port).
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface ReceivedMail {
  readonly from: string;
  readonly to: readonly string[];
  /** The message as sent (headers, blank line, body), CRLF line ends, dot-unstuffed. */
  readonly data: string;
  /** The Subject header, unfolded. */
  readonly subject: string | undefined;
  /** The user that authenticated, if any. */
  readonly user: string | undefined;
}

export interface SmtpServerOptions {
  /** Offer AUTH PLAIN and require it before MAIL FROM. */
  readonly auth?: { readonly user: string; readonly password: string };
}

export interface SmtpServer {
  readonly port: number;
  readonly messages: readonly ReceivedMail[];
  /** Every command line received (AUTH payloads included: tests check what the client sent). */
  readonly commands: readonly string[];
  waitForMessages(n: number, timeoutMs: number): Promise<readonly ReceivedMail[]>;
  close(): Promise<void>;
}

interface Session {
  from?: string;
  to: string[];
  data?: string[];
  user?: string;
  awaitingAuth: boolean;
}

function address(arg: string): string {
  const m = /<([^>]*)>/.exec(arg);
  return m?.[1] ?? arg.trim();
}

function subjectOf(data: string): string | undefined {
  const head = data.split('\r\n\r\n')[0] ?? '';
  const unfolded = head.replace(/\r\n([ \t])/g, '$1');
  return /^subject:[ \t]*(.*)$/im.exec(unfolded)?.[1];
}

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<SmtpServer> {
  const messages: ReceivedMail[] = [];
  const commands: string[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();

  function checkAuth(socket: Socket, s: Session, b64: string): void {
    const [, user, password] = Buffer.from(b64, 'base64').toString('utf8').split('\0');
    if (options.auth && user === options.auth.user && password === options.auth.password) {
      s.user = user;
      socket.write('235 2.7.0 Authentication successful\r\n');
    } else socket.write('535 5.7.8 Authentication credentials invalid\r\n');
  }

  function dataLine(socket: Socket, s: Session, line: string): void {
    if (line !== '.') {
      s.data?.push(line.startsWith('..') ? line.slice(1) : line);
      return;
    }
    const data = (s.data ?? []).join('\r\n');
    messages.push({ from: s.from ?? '', to: s.to, data, subject: subjectOf(data), user: s.user });
    s.data = undefined;
    s.from = undefined;
    s.to = [];
    socket.write(`250 2.0.0 OK queued as ${messages.length}\r\n`);
    for (const w of waiters) w();
  }

  type Handler = (socket: Socket, s: Session, rest: readonly string[]) => void;
  const ok =
    (text: string): Handler =>
    (socket) =>
      socket.write(`${text}\r\n`);
  const handlers: Record<string, Handler> = {
    EHLO: (socket) => {
      const ext = ['localhost', '8BITMIME', ...(options.auth ? ['AUTH PLAIN'] : []), 'SIZE 10485760'];
      socket.write(ext.map((e, i) => `250${i === ext.length - 1 ? ' ' : '-'}${e}\r\n`).join(''));
    },
    HELO: ok('250 localhost'),
    AUTH: (socket, s, [mech = '', payload]) => {
      if (!options.auth || mech.toUpperCase() !== 'PLAIN')
        socket.write('504 5.5.4 Unrecognized auth type\r\n');
      else if (payload) checkAuth(socket, s, payload);
      else {
        s.awaitingAuth = true;
        socket.write('334 \r\n');
      }
    },
    MAIL: (socket, s, rest) => {
      if (options.auth && !s.user) return void socket.write('530 5.7.0 Authentication required\r\n');
      s.from = address(rest.join(' ').replace(/^FROM:/i, ''));
      socket.write('250 2.1.0 OK\r\n');
    },
    RCPT: (socket, s, rest) => {
      s.to.push(address(rest.join(' ').replace(/^TO:/i, '')));
      socket.write('250 2.1.5 OK\r\n');
    },
    DATA: (socket, s) => {
      if (s.from === undefined || s.to.length === 0) {
        return void socket.write('503 5.5.1 Need MAIL and RCPT first\r\n');
      }
      s.data = [];
      socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
    },
    RSET: (socket, s) => {
      s.from = undefined;
      s.to = [];
      socket.write('250 2.0.0 OK\r\n');
    },
    NOOP: ok('250 2.0.0 OK'),
    QUIT: (socket) => socket.end('221 2.0.0 Bye\r\n'),
  };

  function command(socket: Socket, s: Session, line: string): void {
    commands.push(line);
    if (s.awaitingAuth) {
      s.awaitingAuth = false;
      checkAuth(socket, s, line);
      return;
    }
    const [verb = '', ...rest] = line.split(' ');
    const handler = handlers[verb.toUpperCase()] ?? ok('502 5.5.2 Command not recognized');
    handler(socket, s, rest);
  }

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const session: Session = { to: [], awaitingAuth: false };
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let i: number;
      while ((i = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (session.data) dataLine(socket, session, line);
        else command(socket, session, line);
      }
    });
    socket.write('220 localhost ESMTP nines-test\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    commands,
    waitForMessages(n, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (messages.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(messages);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`smtp server: ${messages.length} of ${n} messages after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// Stable error codes. Every failure a user can meet carries one of these codes, a message saying what went
// wrong and a hint saying how to fix it. docs/errors.md lists every code (a unit test keeps the two in sync).
// Never classify an error by its message text: use `isNinesError(err, code)`.

export interface ErrorInfo {
  /** What went wrong, in one sentence (the specific detail is appended). */
  readonly message: string;
  /** How to solve it. */
  readonly hint: string;
  /** HTTP status when the error reaches the API. */
  readonly status: number;
}

export const ERRORS = {
  // --- reaching hosts ---
  NINES_E_SSH_AUTH: {
    message: 'SSH authentication failed',
    hint: "Check the SSH user and private key; the key's public half must be in that user's ~/.ssh/authorized_keys on the host.",
    status: 502,
  },
  NINES_E_SSH_HOSTKEY_CHANGED: {
    message: 'The SSH host key of the host changed since it was first recorded',
    hint: 'If the host was rebuilt on purpose, remove its line from the known-hosts file named in the error and retry; otherwise treat it as a possible attack.',
    status: 502,
  },
  NINES_E_SSH_KEY_FILE: {
    message: 'The SSH private key file cannot be read',
    hint: 'Check the path and permissions of the key file (it must be readable by the user running nines and not passphrase-protected).',
    status: 400,
  },
  NINES_E_HOST_UNREACHABLE: {
    message: 'The host cannot be reached over SSH',
    hint: 'Check that the host is up, that sshd listens on the given address and port, and that no firewall drops the connection.',
    status: 502,
  },
  NINES_E_SUDO: {
    message: 'The command needs root but sudo refused to run it without a password',
    hint: 'Connect as root, or give the SSH user passwordless sudo (a line "USER ALL=(ALL) NOPASSWD: ALL" in /etc/sudoers.d/).',
    status: 502,
  },
  NINES_E_COMMAND_TIMEOUT: {
    message: 'A command did not finish within its timeout and was killed',
    hint: 'The host may be overloaded or hung; check it, or raise the timeout if the operation is legitimately slow.',
    status: 504,
  },
  NINES_E_COMMAND_FAILED: {
    message: 'A command exited with a non-zero status',
    hint: 'Read the command, exit code and stderr in the error context; fix the cause on the host and retry.',
    status: 502,
  },
  NINES_E_COMMAND_ABORTED: {
    message: 'A command was cancelled before it finished',
    hint: 'It was stopped on request (job cancelled or controller shutting down); retry the operation if needed.',
    status: 409,
  },
  NINES_E_FILE_TRANSFER: {
    message: 'A file could not be copied to or from the host',
    hint: 'Check free disk space and permissions of the target directory on the host.',
    status: 502,
  },
  NINES_E_SERVICE: {
    message: 'A service could not be started or stopped',
    hint: "Read the service's log file named in the error context on the host.",
    status: 502,
  },
  // --- lab ---
  NINES_E_LAB_NOT_ROOT: {
    message: 'The lab needs root to create network namespaces, bridges and iptables rules',
    hint: 'Run the command as root (sudo nines lab up ...).',
    status: 403,
  },
  NINES_E_LAB_TOOL_MISSING: {
    message: 'A program the lab needs is not installed',
    hint: 'Install the Debian packages with: sudo sh scripts/bootstrap.sh',
    status: 500,
  },
  NINES_E_LAB_NOT_FOUND: {
    message: 'No lab of that name exists',
    hint: 'Create it with "nines lab up --hosts N [--name NAME]", or list labs with "nines lab status".',
    status: 404,
  },
  NINES_E_LAB_EXISTS: {
    message: 'A lab of that name already exists',
    hint: 'Use it as it is, take it down first with "nines lab down --name NAME", or choose another --name.',
    status: 409,
  },
  NINES_E_LAB_HOST_UNKNOWN: {
    message: 'The lab has no host of that name',
    hint: 'Run "nines lab status" to see the host names of the lab.',
    status: 404,
  },
  NINES_E_LAB_START: {
    message: 'A lab host did not come up',
    hint: "Read the host's log under the lab directory named in the error; run 'nines lab down' and retry.",
    status: 500,
  },
  // --- controller, jobs, API (issue 3): add codes here ---

  // --- engines and proxies (issue 4): add codes here ---

  // --- monitoring, alarms, notifications (issue 5): add codes here ---

  // --- input and configuration ---
  NINES_E_INVALID_ARGUMENT: {
    message: 'Invalid argument',
    hint: 'Run the command with --help to see what it accepts.',
    status: 400,
  },
  NINES_E_SPEC_INVALID: {
    message: 'The cluster spec is invalid',
    hint: 'Fix the field named in the message; "nines spec validate -f FILE" checks a spec without changing anything.',
    status: 400,
  },
  NINES_E_SPEC_PARSE: {
    message: 'The cluster spec is not valid YAML or JSON',
    hint: 'Fix the syntax at the line and column given in the message.',
    status: 400,
  },
  NINES_E_CONFIG_INVALID: {
    message: 'The controller configuration is invalid',
    hint: 'Fix the key named in the message in the config file or the NINES_* environment variable.',
    status: 500,
  },
  NINES_E_INTERNAL: {
    message: 'Internal error',
    hint: 'This is a bug in nines; please report it with the controller log around the request id.',
    status: 500,
  },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;

export interface NinesErrorOptions {
  /** Extra facts for logs and the API (host, argv, exit code, ...). Must not hold secrets. */
  readonly context?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
  /** Replaces the registry's generic hint when a more precise one is known. */
  readonly hint?: string;
}

export class NinesError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly status: number;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, detail?: string, options: NinesErrorOptions = {}) {
    const info: ErrorInfo = ERRORS[code];
    super(detail ? `${info.message}: ${detail}` : info.message, { cause: options.cause });
    this.name = 'NinesError';
    this.code = code;
    this.hint = options.hint ?? info.hint;
    this.status = info.status;
    this.context = options.context ?? {};
  }

  toJSON(): { code: ErrorCode; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

export function isNinesError(err: unknown, code?: ErrorCode): err is NinesError {
  return err instanceof NinesError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a NinesError, keeping NinesErrors as they are. */
export function toNinesError(err: unknown, code: ErrorCode = 'NINES_E_INTERNAL'): NinesError {
  if (err instanceof NinesError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new NinesError(code, detail, { cause: err });
}

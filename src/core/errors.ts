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
  NINES_E_SSH_KEY_PATH: {
    message: 'A spec cannot name files on the controller (ssh.keyFile, knownHostsFile)',
    hint: 'Register the key: "nines key add NAME --file PATH" (the CLI reads the file on your machine), then write "ssh: {key: NAME}" in the spec. The controller pins host keys per cluster itself.',
    status: 400,
  },
  NINES_E_SSH_KEY_UNKNOWN: {
    message: 'The spec names an SSH key that is not registered with the controller',
    hint: 'List the registered keys with "nines key list"; register this one with "nines key add NAME --file PATH" and submit the spec again.',
    status: 400,
  },
  NINES_E_KEY_INVALID: {
    message: 'The SSH private key is not usable',
    hint: 'Give an unencrypted private key in OpenSSH or PEM format (ssh-keygen -t ed25519 -N ""); decrypt a passphrase-protected key first (ssh-keygen -p on a copy).',
    status: 400,
  },
  NINES_E_KEY_NOT_FOUND: {
    message: 'No SSH key of that name is registered',
    hint: 'List the registered keys with "nines key list".',
    status: 404,
  },
  NINES_E_KEY_EXISTS: {
    message: 'An SSH key of that name is already registered with different content',
    hint: 'Choose another name, or rotate the key with "nines key add NAME --file PATH --replace" (the clusters using it then log in with the new key).',
    status: 409,
  },
  NINES_E_KEY_IN_USE: {
    message: 'The SSH key is used by clusters and cannot be removed',
    hint: 'Delete those clusters first, or keep the key; "nines key list" shows which clusters use each key.',
    status: 409,
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
  NINES_E_AUTH_REQUIRED: {
    message: 'The request needs an API token',
    hint: 'Send "Authorization: Bearer TOKEN"; the first admin token is in admin.token in the controller data directory (the CLI reads it, or pass --token / NINES_TOKEN).',
    status: 401,
  },
  NINES_E_AUTH_INVALID: {
    message: 'The API token is not valid',
    hint: 'The token is wrong or was revoked; ask an admin for a new one (POST /api/v1/tokens) or use the admin.token file of the controller.',
    status: 401,
  },
  NINES_E_AUTH_FORBIDDEN: {
    message: 'The API token lacks the role this request needs',
    hint: 'Roles are viewer (read), operator (create and cancel jobs) and admin (tokens, delete); use a token with the role named in the message.',
    status: 403,
  },
  NINES_E_AUTH_RATE_LIMITED: {
    message: 'Too many requests with a wrong token from this address',
    hint: 'Wait for the number of seconds in the Retry-After header, then retry with a valid token (the CLI reads admin.token, or pass --token / NINES_TOKEN). Until then this address is refused, even with a valid token.',
    status: 429,
  },
  NINES_E_BAD_REQUEST: {
    message: 'The HTTP request is malformed',
    hint: 'Check the URL (percent-encoding), the headers and that the body matches its Content-Type (valid JSON for application/json).',
    status: 400,
  },
  NINES_E_REQUEST_TOO_LARGE: {
    message: 'The request body is larger than the controller accepts',
    hint: 'Send a smaller body; the limit is api.bodyLimitBytes in the controller config (default 1 MiB).',
    status: 413,
  },
  NINES_E_URI_TOO_LONG: {
    message: 'A path parameter of the request is longer than the controller accepts',
    hint: 'Names and ids in the URL are short (at most api.maxParamLength characters); check the URL.',
    status: 414,
  },
  NINES_E_HEADERS_TOO_LARGE: {
    message: 'The request headers (with the URL) are larger than the controller accepts',
    hint: 'Send a shorter URL or fewer or smaller headers; the limit is api.maxHeaderBytes in the controller config (default 16 KiB).',
    status: 431,
  },
  NINES_E_UNSUPPORTED_MEDIA_TYPE: {
    message: 'The request body has a Content-Type the controller does not read',
    hint: 'Send JSON (Content-Type: application/json), or a spec as YAML (application/yaml or text/plain).',
    status: 415,
  },
  NINES_E_REQUEST_TIMEOUT: {
    message: 'The request was not received completely within the time allowed',
    hint: 'Send the whole request (headers and body) within api.requestTimeoutMs (default 30 s); check the network between client and controller.',
    status: 408,
  },
  NINES_E_API_CERT_CHANGED: {
    message: 'The TLS certificate of the controller changed since it was first pinned',
    hint: 'If the controller was given a new certificate on purpose, remove its line from the known-controllers file named in the message (or pass --ca FILE) and retry; otherwise treat it as a possible attack.',
    status: 502,
  },
  NINES_E_API_TLS: {
    message: 'The TLS connection to the controller failed',
    hint: 'Check the URL; for a certificate signed by your own CA pass --ca FILE (or NINES_CA); otherwise the CLI pins the certificate on first use.',
    status: 502,
  },
  NINES_E_TLS_SETUP: {
    message: 'The controller cannot set up TLS for the API',
    hint: 'Check api.tls.certFile and api.tls.keyFile in the controller config (PEM files readable by nines), or that the openssl program is installed (sudo sh scripts/bootstrap.sh) to generate a certificate in the data directory.',
    status: 500,
  },
  NINES_E_NOT_FOUND: {
    message: 'No such API route',
    hint: 'Check the method and path; GET /api/v1/openapi.json lists every route.',
    status: 404,
  },
  NINES_E_CLUSTER_NOT_FOUND: {
    message: 'No cluster of that name exists',
    hint: 'Run "nines cluster list" to see the clusters the controller manages.',
    status: 404,
  },
  NINES_E_CLUSTER_EXISTS: {
    message: 'A cluster of that name already exists or is being created',
    hint: 'Choose another name in the spec, or delete the existing cluster first with "nines cluster delete NAME".',
    status: 409,
  },
  NINES_E_CONFIRMATION_REQUIRED: {
    message: 'The operation is destructive and needs an explicit confirmation',
    hint: 'Pass the cluster name as ?confirm=NAME to the API, or --yes to the CLI.',
    status: 400,
  },
  NINES_E_JOB_NOT_FOUND: {
    message: 'No job with that id exists',
    hint: 'Run "nines job list" to see the jobs of the controller.',
    status: 404,
  },
  NINES_E_JOB_TYPE_UNKNOWN: {
    message: 'No job type of that name is registered',
    hint: 'Check the job type ("nines job list" shows the types in use); test job types exist only in the test suite.',
    status: 400,
  },
  NINES_E_JOB_NOT_CANCELLABLE: {
    message: 'The job has already finished and cannot be cancelled',
    hint: 'Nothing to do; "nines job show ID" shows how it ended.',
    status: 409,
  },
  NINES_E_JOB_CANCELLED: {
    message: 'The job was cancelled',
    hint: 'It was cancelled on request; submit it again if the work is still needed.',
    status: 409,
  },
  NINES_E_JOB_INTERRUPTED: {
    message: 'The job was interrupted because the controller stopped',
    hint: 'The job type cannot resume after a restart; check the state of the cluster, then submit the job again.',
    status: 500,
  },
  NINES_E_SHUTTING_DOWN: {
    message: 'The controller is shutting down',
    hint: 'Retry once the controller has restarted.',
    status: 503,
  },
  NINES_E_TOKEN_NOT_FOUND: {
    message: 'No API token with that id exists',
    hint: 'List the tokens with GET /api/v1/tokens.',
    status: 404,
  },
  NINES_E_STORE: {
    message: 'The controller store (SQLite) failed',
    hint: 'Check free disk space and permissions of the data directory; the file path is in the error context.',
    status: 500,
  },
  NINES_E_SECRET_KEY: {
    message: 'Secrets cannot be encrypted or decrypted with the key file',
    hint: 'The file secret.key in the data directory must be the one the secrets were written with (32 bytes, mode 0600); restore it from backup.',
    status: 500,
  },
  NINES_E_FILE_PERMISSIONS: {
    message: 'A secret file of the controller is readable by other users',
    hint: 'Make it readable by its owner only (the command is in the message, e.g. chmod 600 FILE), check who could have read it, then start the controller again.',
    status: 500,
  },
  NINES_E_CONTROLLER_RUNNING: {
    message: 'Another controller is already running on this data directory',
    hint: 'Stop the other controller (its pid is in the message) or use another --data-dir.',
    status: 409,
  },
  NINES_E_LISTEN: {
    message: 'The controller cannot listen on the configured address',
    hint: 'Another program may use the port; choose another with --listen HOST:PORT or NINES_LISTEN.',
    status: 500,
  },
  NINES_E_CONTROLLER_UNREACHABLE: {
    message: 'The controller API cannot be reached',
    hint: 'Start it with "nines controller start", or point the CLI at it with --url or NINES_URL.',
    status: 503,
  },

  // --- engines and proxies (issue 4): add codes here ---
  NINES_E_ENDPOINT_NOT_CONFIGURED: {
    message: 'The cluster spec has no application endpoint',
    hint: 'Add an endpoint section to the spec (endpoint.proxies, and optionally writePort, readPort, virtualIp) and apply it.',
    status: 400,
  },
  NINES_E_PROXY_CONFIG_INVALID: {
    message: 'HAProxy or Keepalived rejected the configuration nines rendered',
    hint: 'The checker output is in the error context; the running proxy keeps its previous configuration. Check the installed haproxy/keepalived versions (HAProxy 2.4+ and Keepalived 2.x are supported) and report the output.',
    status: 500,
  },
  NINES_E_PROXY_NOT_LISTENING: {
    message: 'The proxy started but does not listen on its ports',
    hint: 'Another program may hold the write, read or stats port on the proxy host (ss -ltnp shows it); free the port or choose other ports in endpoint.writePort/readPort.',
    status: 502,
  },
  NINES_E_HAPROXY_RUNTIME: {
    message: 'The HAProxy runtime API refused a command or cannot be reached',
    hint: 'Check that HAProxy runs on the proxy host with the admin socket /run/haproxy/admin.sock (nines deploys it so) and that socat is installed; the command and answer are in the error context.',
    status: 502,
  },
  NINES_E_VIP_NOT_HELD: {
    message: 'The virtual IP is not held by exactly one proxy host',
    hint: 'Check keepalived on the proxy hosts (its log is /var/log/keepalived.log in direct mode), that VRRP (IP protocol 112) passes between them, and that virtual_router_id is not used by another VRRP group on the network.',
    status: 502,
  },
  NINES_E_PACKAGE_MISSING: {
    message: 'A package the node needs is not installed',
    hint: 'Install the package named in the message on the host (apt-get install -y PACKAGE), or give the host access to an apt repository so nines can install it.',
    status: 502,
  },
  NINES_E_PORT_IN_USE: {
    message: 'The database port is already used by another program on the host',
    hint: 'Stop the program listening on that port (the message names it), or choose another port for the node in the spec.',
    status: 409,
  },
  NINES_E_DB_AUTH: {
    message: 'The database refused the credentials',
    hint: 'Check the password of the user named in the message in the spec credentials, and that the user may connect from the controller address.',
    status: 502,
  },
  NINES_E_DB_UNREACHABLE: {
    message: 'The database server cannot be reached',
    hint: 'Check that the server runs on the host and listens on the node address and port (bind-address), and that no firewall drops the connection.',
    status: 502,
  },
  NINES_E_DB_QUERY: {
    message: 'A SQL statement failed',
    hint: 'Read the server error number and message in the error; the statement is in the error context (without secrets).',
    status: 502,
  },
  NINES_E_DEPLOY_FAILED: {
    message: 'The deployment did not reach a healthy cluster',
    hint: 'Read the step and the server log lines in the message; fix the cause and run the deploy again (its steps are idempotent and finish a half-done deploy).',
    status: 502,
  },
  NINES_E_CLONE_FAILED: {
    message: 'Copying the data to a new replica failed',
    hint: "Both sides were stopped and the new node's data directory emptied. Fix what the message says (the failing side, its host and last error line) and add the node again.",
    status: 502,
  },
  NINES_E_GALERA_NOT_PRIMARY: {
    message: 'The Galera cluster has no Primary component',
    hint: 'Some nodes run but none is in a Primary component: recover the cluster (bootstrap the most advanced node) before deploying or adding nodes; nines never bootstraps a second cluster next to running nodes.',
    status: 409,
  },
  NINES_E_TOPOLOGY_INCONSISTENT: {
    message: 'The cluster topology is inconsistent',
    hint: 'The message says what is wrong (two writable primaries, a replica following a host outside the spec, ...); fix the replication by hand or correct the spec, then import again.',
    status: 409,
  },
  NINES_E_REMOVE_REFUSED: {
    message: 'Removing the node was refused',
    hint: 'Removing the primary or a node whose loss breaks quorum needs force; switch the primary over first, or pass force if you accept the consequence.',
    status: 409,
  },

  NINES_E_RECOVERY_FAILED: {
    message: 'A failover or switchover step did not reach its verified effect',
    hint: 'The message names the node, the step and what it saw last. Fix that node (server log, replication status) and run the step again: steps are idempotent. A node holding writes the primary lacks is rebuilt from the primary.',
    status: 502,
  },

  NINES_E_CLUSTER_NOT_READY: {
    message: 'The cluster is not in a state that allows this operation',
    hint: 'Nodes can be added or removed only on a healthy (or degraded) cluster; a failed deploy is finished by running "nines cluster create -f SPEC" again with the same spec. "nines cluster list" shows the state.',
    status: 409,
  },
  NINES_E_CLUSTER_UNHEALTHY: {
    message: 'The cluster is stored healthy, but the monitor does not see it healthy now',
    hint: 'Run "nines cluster status NAME" for the reason; "nines cluster create" with the same spec deploys it again. If its hosts were recreated, delete it ("nines cluster delete NAME") and create it afresh.',
    status: 409,
  },
  NINES_E_SPEC_MISMATCH: {
    message: 'A cluster of that name exists with a different spec',
    hint: 'Re-running "nines cluster create" finishes a failed deploy only with the same spec (credentials may be omitted: the stored ones are used). Delete the cluster first ("nines cluster delete NAME") to deploy a different spec.',
    status: 409,
  },

  // --- failover drill ---
  NINES_E_DRILL_NOT_LAB: {
    message: 'The failover drill runs only on lab hosts of the controller machine',
    hint: 'The drill breaks the primary host on purpose: every node and proxy of the cluster must be a host of one lab on this machine ("nines lab status" lists them). Drill a copy of the cluster on lab hosts.',
    status: 409,
  },
  NINES_E_DRILL_UNSUPPORTED: {
    message: 'The failover drill cannot run on this cluster',
    hint: 'The drill needs a single-primary cluster (mariadb-replication, postgres-streaming) with an endpoint (endpoint.proxies) and a primary in the inventory ("nines cluster show NAME").',
    status: 409,
  },
  NINES_E_DRILL_BUSY: {
    message: 'A failover drill already runs on this cluster',
    hint: 'Wait for it to finish ("nines job logs ID --follow"), or cancel it with "nines job cancel ID": the fault is reverted either way.',
    status: 409,
  },

  // --- monitoring, alarms, notifications (issue 5): add codes here ---
  NINES_E_MONITOR_CONFIG_INVALID: {
    message: 'The monitoring thresholds or alarm settings are invalid',
    hint: 'Fix the key named in the message; every threshold is a positive number and a warning level must not exceed its critical level.',
    status: 400,
  },
  NINES_E_MONITOR_ROW_INVALID: {
    message: 'A stored monitoring setting or maintenance window is invalid; the monitor skipped it',
    hint: 'The row was written by an older version or by hand. Replace it: POST /api/v1/clusters/NAME/monitor-settings, or DELETE then POST /api/v1/clusters/NAME/maintenance. The monitor-degraded alarm clears after a few clean ticks.',
    status: 500,
  },
  NINES_E_NOTIFY_CHANNEL_INVALID: {
    message: 'The notification channel configuration is invalid',
    hint: 'Fix the field named in the message; docs/monitoring.md lists the fields of webhook, slack and email channels.',
    status: 400,
  },
  NINES_E_NOTIFY_DELIVERY_FAILED: {
    message: 'A notification could not be delivered',
    hint: 'Check that the webhook URL or SMTP server is reachable from the controller and accepts the request; the HTTP status or SMTP reply is in the message. Failed deliveries are retried with backoff.',
    status: 502,
  },
  NINES_E_NOTIFY_TIMEOUT: {
    message: 'A notification endpoint did not answer within the timeout',
    hint: 'The webhook or SMTP server is slow or unreachable; check it, or raise the channel timeoutMs.',
    status: 504,
  },
  NINES_E_MONITOR_PROBE_TIMEOUT: {
    message: 'The node did not answer the monitoring probe in time',
    hint: 'The host or database may be overloaded, frozen or cut off from the controller; check it. The probe timeout is monitor.probeTimeoutMs in the controller configuration.',
    status: 504,
  },
  NINES_E_MONITOR_UNSUPPORTED: {
    message: 'The engine of this cluster does not offer this monitoring feature',
    hint: 'Upgrade nines: probes and query insight are implemented per engine (src/engines/*/probe.ts, queries.ts).',
    status: 501,
  },
  NINES_E_NODE_NOT_FOUND: {
    message: 'The cluster has no such node',
    hint: 'Name the node as HOST or HOST:PORT exactly as "nines node list --cluster NAME" shows it.',
    status: 404,
  },
  // --- failover and switchover ---
  NINES_E_FAILOVER_REFUSED: {
    message:
      'nines did not fail over: promoting a replica could lose acknowledged writes, or no replica can be promoted',
    hint: 'The message names the reason (a replica that acknowledged commits cannot be read, semi-sync/synchronous replication had fallen back to asynchronous, no eligible replica). Bring the named replica back, or fail over by hand with "nines cluster failover NAME --force" accepting the loss bound the event reports.',
    status: 409,
  },
  NINES_E_FAILOVER_FENCE: {
    message: 'A node could not be made to refuse writes',
    hint: 'nines never promotes while another node may accept writes. Check the named node (its host, its server log), make it read-only or stop it, then run "nines cluster failover NAME" again.',
    status: 409,
  },
  NINES_E_FAILOVER_RUNNING: {
    message: 'A failover or switchover of this cluster is running',
    hint: 'Follow it with "nines cluster failovers NAME"; start another one when it has finished.',
    status: 409,
  },
  NINES_E_FAILOVER_UNSUPPORTED: {
    message: 'This cluster type has no single primary to fail over',
    hint: 'Galera clusters have no failover: every member takes writes and the endpoint moves its writer by itself.',
    status: 400,
  },
  NINES_E_FAILOVER_NOT_FOUND: {
    message: 'No failover with this id',
    hint: 'List them with "nines cluster failovers NAME".',
    status: 404,
  },
  NINES_E_FAILOVER_TIMEOUT: {
    message: 'A failover step did not complete in time',
    hint: 'The message names the node and what it waited for. Check that node; raise recovery timeouts in the controller configuration if the node is only slow.',
    status: 504,
  },
  NINES_E_NO_PRIMARY: {
    message: 'The cluster has no known primary',
    hint: 'Check "nines cluster status NAME": a failover may have been refused (its event says why). Fail over by hand with "nines cluster failover NAME --to HOST".',
    status: 409,
  },
  NINES_E_SWITCHOVER_UNSAFE: {
    message: 'The switchover cannot be done without risking writes',
    hint: 'A switchover needs a healthy primary and a caught-up target. Check "nines cluster status NAME"; if the primary is down, use "nines cluster failover NAME".',
    status: 409,
  },
  NINES_E_ALARM_NOT_FOUND: {
    message: 'No alarm with this id',
    hint: 'List alarms with "nines alarms --all" and use the number in the ID column.',
    status: 404,
  },
  NINES_E_NOTIFY_CHANNEL_NOT_FOUND: {
    message: 'No notification channel with this name',
    hint: 'List channels with "nines notify list".',
    status: 404,
  },
  NINES_E_METRICS_AUTH: {
    message: 'The metrics scrape was refused',
    hint: 'Send "Authorization: Bearer TOKEN" with the scrape token (monitor.metricsToken) or an API token, or set monitor.metricsPublic: true to allow unauthenticated scrapes.',
    status: 401,
  },

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
  NINES_E_CONFIG_VALUE: {
    message: 'A value cannot be written safely into a configuration file',
    hint: 'The named value holds a character that file format cannot carry (a control character; in keepalived.conf anything but letters, digits and . _ : / @ -). Fix that field.',
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

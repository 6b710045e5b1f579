// The application endpoint: HAProxy (write and read ports, runtime API over the admin socket) and Keepalived
// (virtual IP). See docs/endpoint.md.
export { deployEndpoint, updateEndpoint } from './endpoint.ts';
export type { EndpointContext, EndpointOptions, EndpointResult, ProxyOutcome } from './endpoint.ts';
export { endpointView, serverName, READ_BACKEND, WRITE_BACKEND } from './endpoint-view.ts';
export type {
  BackendName,
  EndpointServer,
  EndpointView,
  EndpointViewOptions,
  WriteRole,
} from './endpoint-view.ts';
export {
  renderHaproxyConfig,
  renderHaproxyConfigForView,
  HAPROXY_ADMIN_SOCKET,
  HAPROXY_CONFIG_PATH,
  HAPROXY_PID_FILE,
  HAPROXY_STATS_PORT,
  HAPROXY_STATS_USER,
  haproxyStatsPassword,
} from './haproxy/config.ts';
export { haproxyComment, haproxyWord } from './haproxy/syntax.ts';
export { readBackendStates, setServerState, setWriter, runtimeCommand } from './haproxy/runtime.ts';
export { currentWriter, parseShowStat, runtimeCommands, writerCommands } from './haproxy/runtime-plan.ts';
export type { AdminState, BackendServerState } from './haproxy/runtime-plan.ts';
export { ensureHaproxy, stopHaproxy } from './haproxy/deploy.ts';
export { renderKeepalivedConfig, renderCheckScript, KEEPALIVED_CONFIG_PATH } from './keepalived/config.ts';
export type { ProxyNetwork } from './keepalived/config.ts';
export { holdsVip, stopKeepalived, waitVipHolder } from './keepalived/deploy.ts';

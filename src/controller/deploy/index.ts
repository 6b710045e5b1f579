// Deploy, import and grow clusters through jobs (see docs/operations.md).
export { realDeployDeps } from './deps.ts';
export type { DeployDeps, EndpointSummary } from './deps.ts';
export {
  deployJobTypes,
  NodeAddParams,
  NodeRemoveParams,
  RETRYABLE_STATES,
  CHANGEABLE_STATES,
} from './jobs.ts';
export { submitCreate, submitImport, submitNodeAdd, submitNodeRemove } from './submit.ts';
export type { DeployHost, SubmitSpecResult } from './submit.ts';

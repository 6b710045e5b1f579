// The failover drill (nines drill failover): see docs/operations.md.
export { drillJobType, drillTarget, DRILL_JOB, DRILL_USER } from './job.ts';
export type { DrillDeps, DrillTarget } from './job.ts';
export { realDrillDeps } from './deps.ts';
export { submitDrill } from './submit.ts';
export { DrillParams, DRILL_FAULTS, REVERT, matchLab } from './params.ts';
export type { DrillFault, LabView, LabMatch } from './params.ts';
export { DRILL_STAGES } from './report.ts';
export type { DrillReport, DrillRunReport, DrillStage } from './report.ts';

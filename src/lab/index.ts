// The lab: test hosts on this machine (network namespace + own mount/uts/ipc/pid namespaces + sshd each) and
// fault injection. See docs/lab.md.
export { labUp, labDown, labStatus, labNetworkUp } from './lab.ts';
export type { LabUpOptions, LabDownResult, LabStatus, LabHostStatus, HostState } from './lab.ts';
export { labFault, FAULTS, isFaultName } from './faults.ts';
export type { LabFaultName, LabFaultOptions } from './faults.ts';
export { loadInventory, findInventory, listLabNames, labDir, labBaseDir, findHost } from './inventory.ts';
export type { LabInventory, LabHost } from './inventory.ts';
export { hostPids, hostInitPid, execInLabHost, tcpProbe, sshAnswers } from './host.ts';
export type { HostExecOptions } from './host.ts';
export { createTestLab, withLab, randomLabName } from './testing.ts';
export type { TestLab } from './testing.ts';
export { DEFAULT_LAB_NAME } from './names.ts';

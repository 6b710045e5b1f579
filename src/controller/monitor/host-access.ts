// The monitor's pollers (host statistics, HAProxy backend states) reach a cluster's hosts through the
// controller's one host access (controller/cluster-hosts.ts: registered key, per-cluster known_hosts), with
// connections of their own that close when the cluster stops being monitored.
export type { MonitorHostAccess } from '../cluster-hosts.ts';

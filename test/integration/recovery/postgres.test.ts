// postgres-streaming with synchronous replication: automatic failover, rejoin, anti-flap and switchover
// (scenario.ts).
import { failoverScenario } from './scenario.ts';

failoverScenario({ type: 'postgres-streaming', name: 'fopg', options: { synchronous: true } });

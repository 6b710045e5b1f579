// mariadb-replication with semi-sync: automatic failover, rejoin, anti-flap and switchover (scenario.ts).
import { failoverScenario } from './scenario.ts';

failoverScenario({ type: 'mariadb-replication', name: 'fomdb', options: { semiSync: true } });

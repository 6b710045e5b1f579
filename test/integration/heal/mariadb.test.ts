// mariadb-replication (semi-sync): self-healing of crashed servers (replication.ts).
import { replicationHealSuite } from './replication.ts';

replicationHealSuite({ type: 'mariadb-replication', name: 'healmdb', options: { semiSync: true } });

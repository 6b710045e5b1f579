// postgres-streaming (synchronous quorum): self-healing of crashed servers (replication.ts).
import { replicationHealSuite } from './replication.ts';

replicationHealSuite({ type: 'postgres-streaming', name: 'healpg', options: { synchronous: true } });

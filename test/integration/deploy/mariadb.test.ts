// mariadb-replication deployed, imported and grown through the real controller (cli), on lab hosts. See scenario.ts.
import { typeScenario } from './scenario.ts';

typeScenario({
  type: 'mariadb-replication',
  name: 'dep-mariadb',
  via: 'cli',
});

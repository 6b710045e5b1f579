// postgres-streaming deployed, imported and grown through the real controller (api), on lab hosts. See scenario.ts.
import { typeScenario } from './scenario.ts';

typeScenario({
  type: 'postgres-streaming',
  name: 'dep-postgres',
  via: 'api',
});

// galera deployed, imported and grown through the real controller (api), on lab hosts. See scenario.ts.
import { typeScenario } from './scenario.ts';

typeScenario({
  type: 'galera',
  name: 'dep-galera',
  via: 'api',
  options: { sstMethod: 'rsync', gcacheSize: '64M' },
});

// The controller's store: one SQLite file in the data directory plus the secret key file next to it.
import { mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { Db } from './db.ts';
import { EventRepo } from './event-repo.ts';
import { InventoryRepo } from './inventory-repo.ts';
import { JobRepo } from './job-repo.ts';
import { KeyRepo } from './key-repo.ts';
import { SecretBox } from './secret-box.ts';
import { SecretRepo } from './secret-repo.ts';
import { TokenRepo } from './token-repo.ts';
import { NinesError } from '../../core/errors.ts';

export const DB_FILE = 'nines.db';
export const KEY_FILE = 'secret.key';

export interface Store {
  readonly db: Db;
  readonly box: SecretBox;
  readonly inventory: InventoryRepo;
  readonly jobs: JobRepo;
  readonly events: EventRepo;
  readonly tokens: TokenRepo;
  readonly secrets: SecretRepo;
  /** SSH keys registered with the controller (private keys sealed in secrets). */
  readonly keys: KeyRepo;
  close(): void;
}

/** Opens (creating when needed) the data directory, the key file and the database, and migrates it. */
export function openStore(dataDir: string): Store {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
  } catch (err) {
    throw new NinesError('NINES_E_STORE', `cannot create the data directory ${dataDir}`, {
      cause: err,
      context: { path: dataDir },
    });
  }
  const box = SecretBox.fromKeyFile(join(dataDir, KEY_FILE));
  const db = new Db(join(dataDir, DB_FILE));
  try {
    db.migrate();
  } catch (err) {
    db.close();
    throw err instanceof NinesError
      ? err
      : new NinesError('NINES_E_STORE', `migration of ${db.path} failed`, {
          cause: err,
          context: { path: db.path },
        });
  }
  const secrets = new SecretRepo(db, box);
  return {
    db,
    box,
    secrets,
    inventory: new InventoryRepo(db, secrets),
    jobs: new JobRepo(db),
    events: new EventRepo(db),
    tokens: new TokenRepo(db),
    keys: new KeyRepo(db, secrets),
    close: () => db.close(),
  };
}

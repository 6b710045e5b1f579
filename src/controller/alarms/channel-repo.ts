// Notification channels, configured through the API: each channel's whole configuration (URL tokens, header
// values, SMTP password included) is sealed in the secrets table (scope "notify-channel:<name>"), never stored in
// clear and never returned: the API shows describeChannel() only.
import { NinesError } from '../../core/errors.ts';
import { parseChannelConfig, type ChannelConfig } from '../../core/monitor/notify.ts';
import type { Db } from '../store/db.ts';
import type { SecretRepo } from '../store/secret-repo.ts';

const PREFIX = 'notify-channel:';

export class ChannelRepo {
  private readonly db: Db;
  private readonly secrets: SecretRepo;

  constructor(db: Db, secrets: SecretRepo) {
    this.db = db;
    this.secrets = secrets;
  }

  /** Every channel, validated, by name. */
  list(): ChannelConfig[] {
    const scopes = this.db.all<{ scope: string }>(
      "SELECT scope FROM secrets WHERE substr(scope, 1, ?) = ? AND name = 'config' ORDER BY scope",
      PREFIX.length,
      PREFIX,
    );
    return scopes.flatMap(({ scope }) => {
      const raw = this.secrets.get(scope, 'config');
      return raw ? [parseChannelConfig(JSON.parse(raw))] : [];
    });
  }

  get(name: string): ChannelConfig | undefined {
    const raw = this.secrets.get(`${PREFIX}${name}`, 'config');
    return raw ? parseChannelConfig(JSON.parse(raw)) : undefined;
  }

  /** Validates (NINES_E_NOTIFY_CHANNEL_INVALID, secrets masked) and stores a channel, replacing one of that name. */
  put(input: unknown): ChannelConfig {
    const config = parseChannelConfig(input);
    this.secrets.set(`${PREFIX}${config.name}`, 'config', JSON.stringify(config));
    return config;
  }

  remove(name: string): void {
    if (this.secrets.deleteScope(`${PREFIX}${name}`) === 0) {
      throw new NinesError('NINES_E_NOTIFY_CHANNEL_NOT_FOUND', name, { context: { channel: name } });
    }
  }
}

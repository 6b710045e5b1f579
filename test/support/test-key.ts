// An ed25519 private key for tests. ssh2's generateKeyPairSync('ed25519') now and then (about 0.7% of keys,
// measured over 3000) produces a key its own parseKey rejects, which made tests that register a fresh key fail
// at random: regenerate until ssh2 reads it back.
import ssh2 from 'ssh2';

export function usableEd25519Key(): string {
  for (let i = 0; i < 20; i++) {
    const key = ssh2.utils.generateKeyPairSync('ed25519').private;
    if (!(ssh2.utils.parseKey(key) instanceof Error)) return key;
  }
  throw new Error('ssh2 generated 20 unreadable ed25519 keys in a row');
}

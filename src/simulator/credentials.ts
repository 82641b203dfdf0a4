/**
 * The simulator's own memory of device secrets. Doppel shows a device's password once (at register
 * or rotate time) and keeps only a hash, so a simulator that wants to come back as the same devices
 * tomorrow has to keep the passwords itself: in a JSON file that only its owner may read.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** MQTT credentials of one device. */
export interface DeviceCredentials {
  username: string;
  password: string;
}

/** The file's shape. Entries for devices this run does not simulate are kept as they are. */
interface CredentialsFileV1 {
  version: 1;
  devices: Record<string, DeviceCredentials & { savedAt?: string }>;
}

export interface CredentialStore {
  /** The file the store reads and writes. */
  readonly file: string;
  get(deviceId: string): DeviceCredentials | undefined;
  /** Records new credentials and writes the file (mode 0600, atomically). */
  set(deviceId: string, credentials: DeviceCredentials): Promise<void>;
}

/** Thrown when the file exists but cannot be used; the simulator must not overwrite it blindly. */
export class CredentialsFileError extends Error {
  override name = 'CredentialsFileError';
}

/** Loads the store from `file`; a missing file is an empty store (it is created on the first `set`). */
export async function openCredentialStore(file: string): Promise<CredentialStore> {
  const entries = new Map<string, DeviceCredentials & { savedAt?: string }>();
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CredentialsFileError(`cannot read ${file}: ${(error as Error).message}`);
    }
  }
  if (text !== undefined && text.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CredentialsFileError(`${file} is not valid JSON; move it away to start afresh (devices will get new secrets)`);
    }
    const devices = (parsed as Partial<CredentialsFileV1> | null)?.devices;
    if (typeof devices !== 'object' || devices === null || Array.isArray(devices)) {
      throw new CredentialsFileError(`${file} has no "devices" object; move it away to start afresh (devices will get new secrets)`);
    }
    for (const [deviceId, entry] of Object.entries(devices)) {
      if (entry && typeof entry.username === 'string' && typeof entry.password === 'string') entries.set(deviceId, entry);
    }
  }

  // Writes are chained so concurrent set() calls (devices re-keying at once) never interleave.
  let writing: Promise<void> = Promise.resolve();
  async function write(): Promise<void> {
    const body: CredentialsFileV1 = { version: 1, devices: Object.fromEntries([...entries].sort(([a], [b]) => a.localeCompare(b))) };
    await mkdir(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    // Write a private temporary file and rename it over the old one: a crash never leaves a torn
    // file, and the secrets are never readable by others, not even for a moment.
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, file);
  }

  return {
    file,
    get(deviceId) {
      const entry = entries.get(deviceId);
      return entry ? { username: entry.username, password: entry.password } : undefined;
    },
    set(deviceId, credentials) {
      entries.set(deviceId, { username: credentials.username, password: credentials.password, savedAt: new Date().toISOString() });
      writing = writing.catch(() => undefined).then(write);
      return writing;
    },
  };
}

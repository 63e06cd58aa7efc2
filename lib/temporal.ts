import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';
import { TemporalUnreachableError } from './errors.js';

/** The embedded default: the dev server started by temporal-dev.sh. */
export const DEV_SERVER_ADDRESS = '127.0.0.1:7233';

/** Where and how to reach Temporal, from @temporalio/envconfig (env vars, then the TOML profile). */
export interface TemporalSettings {
  readonly address: string;
  readonly namespace: string;
  /** True when TEMPORAL_ADDRESS or a profile named the server; false when falling back to the dev server. */
  readonly explicit: boolean;
  readonly connectionOptions: ReturnType<typeof loadClientConnectConfig>['connectionOptions'];
}

/** Reads the connection settings in one place so the same code runs against a dev server, a cluster or Cloud. */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const loaded = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  const address = loaded.connectionOptions.address;
  return {
    address: address ?? DEV_SERVER_ADDRESS,
    namespace: loaded.namespace ?? 'default',
    explicit: address !== undefined,
    connectionOptions: { ...loaded.connectionOptions, address: address ?? DEV_SERVER_ADDRESS },
  };
}

/** Opens a client connection; throws {@link TemporalUnreachableError} with what to do when it fails. */
export async function connectClient(settings: TemporalSettings = temporalSettings()): Promise<Client> {
  try {
    const { address, apiKey, tls, metadata } = settings.connectionOptions;
    const connection = await Connection.connect({
      address,
      ...(apiKey === undefined ? {} : { apiKey: apiKey as string }),
      ...(tls === undefined ? {} : { tls }),
      ...(metadata === undefined ? {} : { metadata }),
      connectTimeout: '5s',
    });
    return new Client({ connection, namespace: settings.namespace });
  } catch (err) {
    throw new TemporalUnreachableError(settings.address, err);
  }
}

/** Opens the worker's native connection with the same settings. */
export async function connectWorker(settings: TemporalSettings = temporalSettings()): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(settings.connectionOptions);
  } catch (err) {
    throw new TemporalUnreachableError(settings.address, err);
  }
}

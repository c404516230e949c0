/**
 * Local BigQuery for tests and the example: the REST API (queries) and the Storage Read API
 * (tables, gRPC), serving the same tables. Point the clients at them with
 * `{ projectId, apiEndpoint: rest.endpoint, storageEndpoint: storage.endpoint, insecure: true }`.
 */
import type { BigQueryConnection } from '../../../connectors/bigquery/index.js';
import { startRestServer, type RestServer } from './restServer.js';
import { startStorageServer, type StorageServer } from './storageServer.js';
import { bigTable, loadOccupancy, occupancyTable, overflowTable, typesTable, type TableModel } from './tables.js';

export * from './tables.js';
export type { RestServer, RestFault, RestRequest } from './restServer.js';
export type { StorageServer, StorageFault, StorageLog } from './storageServer.js';

export const PROJECT = 'local-project';
/** Served tables: occupancy (8143 rows), big (occupancy × 40), types (every type), overflow (INT64 past 2^53). */
export const TABLES = {
  occupancy: `${PROJECT}.sensors.occupancy`,
  big: `${PROJECT}.sensors.big`,
  types: `${PROJECT}.sensors.types`,
  overflow: `${PROJECT}.sensors.overflow`,
} as const;

export interface LocalBigQuery {
  readonly rest: RestServer;
  readonly storage: StorageServer;
  /** Connection options for fromBigQuery. */
  readonly connection: BigQueryConnection & { projectId: string };
  readonly tables: Map<string, TableModel>;
  close(): Promise<void>;
}

export async function startLocalBigQuery(): Promise<LocalBigQuery> {
  const rows = loadOccupancy();
  const tables = new Map<string, TableModel>([
    [TABLES.occupancy, occupancyTable(rows)],
    [TABLES.big, bigTable(40, rows)],
    [TABLES.types, typesTable()],
    [TABLES.overflow, overflowTable()],
  ]);
  const [rest, storage] = await Promise.all([startRestServer(tables), startStorageServer(tables)]);
  return {
    rest,
    storage,
    tables,
    connection: { projectId: PROJECT, apiEndpoint: rest.endpoint, storageEndpoint: storage.endpoint, insecure: true },
    close: async () => {
      await Promise.all([rest.close(), storage.close()]);
    },
  };
}

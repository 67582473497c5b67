import type { Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001-foundation.js';
import * as m0002 from './0002-decisions.js';
import * as m0003 from './0003-identity.js';
import * as m0004 from './0004-roads.js';
import * as m0005 from './0005-link-inbox.js';
import * as m0006 from './0006-hierarchy.js';
import * as m0007 from './0007-compute.js';
import * as m0008 from './0008-small-blobs.js';

/**
 * Versioned migrations, applied in name order at start by kysely's Migrator on both
 * backends. Add a file, register it here; never edit one that has shipped.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001-foundation': m0001,
  '0002-decisions': m0002,
  '0003-identity': m0003,
  '0004-roads': m0004,
  '0005-link-inbox': m0005,
  '0006-hierarchy': m0006,
  '0007-compute': m0007,
  '0008-small-blobs': m0008,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return MIGRATIONS;
  },
};

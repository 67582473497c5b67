import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { AccessTokens } from '../../src/auth/access-tokens.js';
import { hashApiKey } from '../../src/auth/api-keys.js';
import { installPolicy } from '../../src/auth/policy.js';
import { ZoneTree } from '../../src/geo/zones.js';

/**
 * Installs the node's real authorization policy on an app built by a test, with `adminToken`
 * as the admin token, no plugin or device keys, and the given zone tree (empty by default).
 * Call before registering routes.
 */
export function installTestPolicy(app: FastifyInstance, adminToken: string, zones: () => ZoneTree = () => new ZoneTree([])): void {
  installPolicy(app, {
    nodeTenant: 'default',
    adminTokenHash: hashApiKey(adminToken),
    keyOwner: () => null,
    accessTokens: new AccessTokens({ key: randomBytes(32), issuer: 'test', isSessionRevoked: () => false }),
    zones,
  });
}

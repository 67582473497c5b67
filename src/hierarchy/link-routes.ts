import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { RoutePolicy } from '../auth/policy.js';
import { cityError } from '../errors.js';
import { MAX_KIND_LENGTH, MAX_MESSAGE_ID_LENGTH, type LinkMessage, type LinkResult } from './inbox.js';
import { LINK_MESSAGES_PATH } from './link-sender.js';

/** A batch of 100 reports of a few kB each fits many times over; a runaway sender does not. */
export const LINK_BODY_LIMIT_BYTES = 4 * 1024 * 1024;

export interface LinkRouteOptions {
  /** Applies one batch from `fromNode` (src/hierarchy/hierarchy.ts: the inbox with the node's handlers). */
  receive: (fromNode: string, messages: readonly LinkMessage[]) => Promise<LinkResult[]>;
  /**
   * The route's authorization (`requires(…)` from src/auth/policy.ts). Passed in rather than
   * chosen here: which credential a link presents comes with enrolment (issue 5 §1).
   */
  policy: { policy: RoutePolicy };
}

const LinkMessageSchema = Type.Object({
  message_id: Type.String({ minLength: 1, maxLength: MAX_MESSAGE_ID_LENGTH }),
  kind: Type.String({ minLength: 1, maxLength: MAX_KIND_LENGTH }),
  seq: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: "the sender's outbox sequence number: informative, ids decide" })),
  created_at: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  payload: Type.Optional(Type.Unknown()),
});

const LinkBatch = Type.Object({
  from_node: Type.String({ minLength: 1, maxLength: 200, description: 'the sending node' }),
  messages: Type.Array(LinkMessageSchema, { maxItems: 10_000, description: 'in the order the sender queued them' }),
});

const LinkResults = Type.Object({
  results: Type.Array(Type.Object({ message_id: Type.String(), status: Type.Union([Type.Literal('applied'), Type.Literal('duplicate')]) })),
});

/**
 * The receiving end of node-to-node links over HTTP (issue 5 §5; seed 001 §7 upward flow,
 * §12.3 inter-layer API): a sender's outbox batch in, one outcome per message out. The whole
 * batch is applied in one transaction (src/hierarchy/inbox.ts), so an error answer means nothing
 * of it was applied and the sender resends it as is.
 *
 * @example
 *   await app.register(linkRoutes, { receive: (from, messages) => hierarchy.receive(from, messages), policy: requires('link') });
 *   // POST /api/v1/layer/messages { from_node: 'local-7', messages: [{ message_id: 'm1', kind: 'escalation', seq: 41, payload: {…} }] }
 *   // → 200 { results: [{ message_id: 'm1', status: 'applied' }] }
 */
export async function linkRoutes(app: FastifyInstance, opts: LinkRouteOptions): Promise<void> {
  app.post<{ Body: Static<typeof LinkBatch> }>(
    LINK_MESSAGES_PATH,
    {
      bodyLimit: LINK_BODY_LIMIT_BYTES,
      schema: {
        summary: "Deliver a batch of a node's outbox messages; each is applied once (a resent message answers duplicate)",
        tags: ['hierarchy'],
        body: LinkBatch,
        response: { 200: LinkResults },
        security: [{ adminToken: [] }],
      },
      config: opts.policy,
    },
    async (request) => {
      // A node speaks for itself only: its signed credential names it (the admin token may replay for any node).
      const principal = request.principal;
      if (principal.kind === 'node' && principal.nodeId !== request.body.from_node) {
        throw cityError('LINK_AUTH_INVALID', { reason: `the credential is ${principal.nodeId}'s, the batch claims to be from ${request.body.from_node}` });
      }
      return { results: await opts.receive(request.body.from_node, request.body.messages) };
    },
  );
}

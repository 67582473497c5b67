import type { Selectable } from 'kysely';
import type { ActionsTable } from '../store/schema.js';

/** The action columns the dispatcher reads back after every change, to publish the action's view. */
export const VIEW_COLUMNS = ['action_id', 'decision_id', 'position', 'type', 'target_system', 'parameters', 'status', 'attempts', 'max_attempts', 'executed_at', 'result', 'last_error'] as const;

export type ActionRow = Pick<Selectable<ActionsTable>, (typeof VIEW_COLUMNS)[number]>;

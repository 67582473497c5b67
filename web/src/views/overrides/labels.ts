import type { Me } from '../../api/types';
import type { ZoneInfo } from '../../api/zones';
import type { ActionTrigger, SuspensionKind } from './api';

/** Names to show for what a suspension targets: zone names, action triggers by their trigger. */
export interface Names {
  zones: ReadonlyMap<string, ZoneInfo>;
  triggers: Map<string, ActionTrigger>;
}

/**
 * "zone Teynampet (chennai-z09)", "rule flood_traffic_coordination", "rule speeding_detected of
 * traffic-violation-detector-v2", "plugin air-quality-monitor" — also the tail of the buttons'
 * accessible names ("Resume zone Teynampet (chennai-z09)"). Zones carry their id too: ward names
 * repeat across cities, and the id is what people type and search for.
 */
export function describeTarget(kind: SuspensionKind, target: string, names: Names): string {
  if (kind === 'zone') {
    const name = names.zones.get(target)?.name;
    return name && name !== target ? `zone ${name} (${target})` : `zone ${target}`;
  }
  if (kind === 'plugin') return `plugin ${target}`;
  const trigger = names.triggers.get(target);
  return trigger ? `rule ${trigger.trigger} of ${trigger.plugin_id}` : `rule ${target}`;
}

/** What a suspension stops, in words (src/overrides/suspensions.ts: decisions are still recorded). */
export function describeScope(kind: SuspensionKind, target: string, names: Names): string {
  if (kind === 'zone') return `All automated actions in ${names.zones.get(target)?.name ?? target} and every zone inside it`;
  if (kind === 'plugin') return `Automated actions of every decision on events from ${target}, in every zone`;
  return `Automated actions of every decision this rule makes, in every zone`;
}

/** Who did it, for people: the signed-in user is "you"; others by their id (user names need manage_users to read). */
export function describeActor(actorId: string, me: Me): string {
  if (me.user_id && actorId === me.user_id) return 'you';
  if (actorId === 'admin-token') return 'the node admin token';
  return `user ${actorId}`;
}

/**
 * Rules and plugins act city-wide, so the node lets only L2+ authorities (and tenant admins)
 * suspend them (src/overrides/routes.ts assertMayOverride); an L1 officer stops their zone.
 * Mirrored here only to hide buttons the node would refuse.
 */
export function mayOverrideCityWide(me: Me): boolean {
  return me.role !== 'authority' || (me.level ?? 0) >= 2;
}
